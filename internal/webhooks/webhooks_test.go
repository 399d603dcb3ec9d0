package webhooks

import (
	"context"
	"crypto/x509"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The specification's published test vector.
func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if _, err := Sign("whsec_not base64!", "id", 1, nil); err == nil {
		t.Error("a malformed secret signs")
	}
}

func TestNewSecretsAreThirtyTwoRandomBytes(t *testing.T) {
	a, b := newSecret(), newSecret()
	if a == b || len(a) != len(secretPrefix)+44 || a[:len(secretPrefix)] != secretPrefix {
		t.Fatalf("secrets %q %q", a, b)
	}
}

func TestBlockedAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "::1": true, "10.0.0.1": true, "172.16.5.4": true,
		"192.168.1.1": true, "169.254.169.254": true, "fe80::1": true, "fc00::1": true, "fd12::1": true,
		"0.0.0.0": true, "::": true, "224.0.0.1": true, "ff02::1": true, "255.255.255.255": true,
		"100.64.0.1": true, "::ffff:10.0.0.1": true, "::ffff:127.0.0.1": true, "64:ff9b::a00:1": true,
		"0.1.2.3": true, "198.18.0.1": true, "2002:c0a8:101::1": true,
		"93.184.215.14": false, "8.8.8.8": false, "1.1.1.1": false, "2606:4700:4700::1111": false,
		"64:ff9b::808:808": false, "::ffff:8.8.8.8": false, "172.32.0.1": false,
	} {
		if got := blocked(netip.MustParseAddr(addr)); got != want {
			t.Errorf("blocked(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule("5s, 5m,30m,2h")
	if err != nil || !slices.Equal(got, []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}) {
		t.Fatalf("ParseSchedule = %v, %v", got, err)
	}
	for _, bad := range []string{"", "5s,,5m", "-1s", "0s", "soon"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}

func TestEventFilters(t *testing.T) {
	for _, tc := range []struct {
		types  []string
		action string
		want   bool
	}{
		{nil, "license.created", true},
		{[]string{"license.*"}, "license.updated", true},
		{[]string{"license.*"}, "license_entitlement.set", false},
		{[]string{"license_entitlement.*"}, "license_entitlement.set", true},
		{[]string{"usage.threshold_crossed"}, "usage.reset", false},
		{[]string{"usage.reset", "instance.*"}, "instance.expiring", true},
	} {
		if got := matches(tc.types, tc.action); got != tc.want {
			t.Errorf("matches(%v, %s) = %v", tc.types, tc.action, got)
		}
	}
	if _, err := eventTypes("eventTypes", []string{"license.*", "webhook.test", "signing_key.rotated"}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"*", "license", "license.", ".*", "licence.*", "license.exploded", "*.created"} {
		if _, err := eventTypes("eventTypes", []string{bad}); err == nil {
			t.Errorf("event type %q accepted", bad)
		}
	}
}

func TestAttemptErrorsAreClassified(t *testing.T) {
	dns := &url.Error{Op: "Post", URL: "https://nowhere.example.com", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nowhere.example.com", Server: "10.0.0.53:53", IsNotFound: true}}}
	if classify(dns) != KindDNS || describe(dns) != "lookup nowhere.example.com: no such host" {
		t.Errorf("DNS: %s %q", classify(dns), describe(dns))
	}
	blockedErr := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &blockedError{"127.0.0.1"}}}
	if classify(blockedErr) != KindBlocked || !strings.Contains(describe(blockedErr), "127.0.0.1") {
		t.Errorf("blocked: %s %q", classify(blockedErr), describe(blockedErr))
	}
	refused := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	if classify(refused) != KindConnection {
		t.Errorf("refused: %s", classify(refused))
	}
	if classify(&url.Error{Op: "Post", URL: "http://x", Err: context.DeadlineExceeded}) != KindTimeout {
		t.Error("a deadline is not TIMEOUT")
	}
	if classify(&url.Error{Op: "Post", URL: "https://x", Err: x509.UnknownAuthorityError{}}) != KindTLS {
		t.Error("an unknown authority is not TLS")
	}
}
