package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/validate"
)

var netResolver = net.DefaultResolver

// maxURL bounds an endpoint's URL (the column's limit).
const maxURL = 2048

// notPublic are ranges that are neither loopback, private nor link-local
// by netip's definitions but reach no public receiver either.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2001:db8::/32"),  // documentation, never routed
	netip.MustParsePrefix("2002::/16"),      // 6to4: may embed a private IPv4
	netip.MustParsePrefix("2001::/32"),      // Teredo: may embed a private IPv4
}

// nat64 is the well-known NAT64 prefix: its addresses stand for IPv4 ones.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// blocked reports whether a webhook must not reach ip (unless private
// receivers are allowed): loopback, private, link-local, unspecified,
// multicast, or a range that reaches no public host.
func blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		// Well-known NAT64: judge the IPv4 address it stands for.
		b := ip.As16()
		return blocked(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range notPublic {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// blockedError is a connection refused by the SSRF rule.
type blockedError struct{ addr string }

func (e *blockedError) Error() string {
	return fmt.Sprintf("%s is a loopback, private, link-local or otherwise non-public address; set ENTITLED_WEBHOOK_ALLOW_PRIVATE=true to deliver to it", e.addr)
}

// checkURL validates an endpoint URL: http or https, a host, no
// fragment, and (unless private receivers are allowed) a host that does
// not resolve to a blocked address. A name that does not resolve now is
// accepted: the check at connect time is the one that counts.
func (s *Service) checkURL(ctx context.Context, raw string) error {
	const field = "url"
	if err := validate.Text(field, raw, maxURL); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return apperr.Invalid(field, "is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return apperr.Invalid(field, "must be an http:// or https:// URL")
	}
	host := u.Hostname()
	if host == "" {
		return apperr.Invalid(field, "must name a host")
	}
	if u.Fragment != "" {
		return apperr.Invalid(field, "must not carry a #fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return apperr.Invalid(field, "has an invalid port %q", p)
		}
	}
	if s.cfg.AllowPrivate {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return apperr.Invalid(field, "%s is a loopback host; webhooks go to public receivers (set ENTITLED_WEBHOOK_ALLOW_PRIVATE=true for internal ones)", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if blocked(ip) {
			return apperr.Invalid(field, "%s is a loopback, private or link-local address; webhooks go to public receivers (set ENTITLED_WEBHOOK_ALLOW_PRIVATE=true for internal ones)", host)
		}
		return nil
	}
	lookupCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := s.cfg.LookupIP(lookupCtx, host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if blocked(ip) {
			return apperr.Invalid(field, "%s resolves to %s, a loopback, private or link-local address; webhooks go to public receivers (set ENTITLED_WEBHOOK_ALLOW_PRIVATE=true for internal ones)", host, ip.Unmap())
		}
	}
	return nil
}

func parsePort(p string) (int, error) {
	var n int
	if _, err := fmt.Sscan(p, &n); err != nil || n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// httpClient sends deliveries: no proxy from the environment (the check
// must see the receiver's address), redirects returned rather than
// followed, and every dial checked on the address it connects to.
func (s *Service) httpClient() *http.Client {
	dialer := &net.Dialer{
		Timeout: s.cfg.Timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			if s.cfg.AllowPrivate {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &blockedError{address}
			}
			if blocked(ap.Addr()) {
				return &blockedError{ap.Addr().Unmap().String()}
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			if _, err := netip.ParseAddr(host); err == nil {
				return dialer.DialContext(ctx, network, address)
			}
			ips, err := s.cfg.LookupIP(ctx, host)
			if err != nil {
				return nil, err
			}
			if len(ips) == 0 {
				return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
			}
			var firstErr error
			for _, ip := range ips {
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
				if err == nil {
					return c, nil
				}
				if firstErr == nil {
					firstErr = err
				}
			}
			return nil, firstErr
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   s.cfg.Timeout,
		ResponseHeaderTimeout: s.cfg.Timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   s.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
