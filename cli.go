package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/auth"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// usageError is a command line the commands do not understand: exit 2.
type usageError struct{ error }

// execute runs the command line and returns the exit status: 0, 1 when a
// command failed, 2 for an unknown command or flag.
func execute(args []string) int {
	return executeTo(args, os.Stdout, os.Stderr)
}

func executeTo(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	var uerr usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &uerr) || isCobraUsage(err):
		fmt.Fprintf(stderr, "entitled: %s (see entitled --help)\n", firstLine(err.Error()))
		return 2
	default:
		fmt.Fprintln(stderr, "entitled:", err)
		return 1
	}
}

// cobraUsage matches the errors cobra makes of a command line it cannot
// parse (it has no error types for them).
var cobraUsage = regexp.MustCompile(`^(unknown command|unknown flag|unknown shorthand flag|invalid argument|flag needs an argument|required flag|accepts |bad flag syntax)`)

func isCobraUsage(err error) bool { return cobraUsage.MatchString(err.Error()) }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "entitled",
		Short: "Licensing and entitlements service",
		Long: "entitled serves the licensing and entitlements API (GraphQL at /graphql, the web console at /,\n" +
			"/healthz, /readyz, /metrics). Without a command it serves, as `entitled serve` does.\n\n" +
			"Environment (the server, and the commands that open the database, read these):\n\n" + envHelp(),
		Args:          noArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(*cobra.Command, []string) error { return serve() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		&cobra.Command{
			Use:   "serve",
			Short: "Serve the API (the default command)",
			Long:  "Serve the API until SIGTERM or SIGINT, then drain in-flight requests. Configured by the ENTITLED_* variables (entitled --help).",
			Args:  noArgs,
			RunE:  func(*cobra.Command, []string) error { return serve() },
		},
		migrateCmd(),
		keysCmd(),
		policyCmd(),
		licenseCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version, commit and date of this binary",
			Args:  noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintln(cmd.OutOrStdout(), versionText())
				return nil
			},
		},
	)
	return root
}

// noArgs refuses arguments: an unknown command is a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
	}
	return nil
}

// group is a command that only holds others: alone it prints its help.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(subs...)
	return c
}

func envHelp() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	for _, v := range envVars {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.name, v.def, v.meaning)
	}
	_ = tw.Flush()
	return b.String()
}

// interruptible is the command's context, cancelled by SIGINT or SIGTERM
// (a migrate up waiting for another process's lock stops waiting).
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// openStore opens the configured database for an operator command: as it
// is (no migrations applied), with a pool of two.
func openStore(ctx context.Context) (*store.DB, error) {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.databaseURL, store.SkipMigrations(), store.MaxConns(2),
		store.WithLogger(newLogger(cfg.logLevel)))
}

// withStore runs a command against the configured database, interrupted
// by SIGINT or SIGTERM.
func withStore(fn func(cmd *cobra.Command, ctx context.Context, db *store.DB) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx, stop := interruptible(cmd)
		defer stop()
		db, err := openStore(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		return fn(cmd, ctx, db)
	}
}

func migrateCmd() *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "List the applied and the pending migrations of the database",
		Args:  noArgs,
		RunE: withStore(func(cmd *cobra.Command, ctx context.Context, db *store.DB) error {
			st, err := db.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			printStatus(cmd.OutOrStdout(), db, st)
			return nil
		}),
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply the pending migrations (under the same lock as the server's start)",
		Args:  noArgs,
		RunE: withStore(func(cmd *cobra.Command, ctx context.Context, db *store.DB) error {
			applied, err := db.Migrate(ctx, nil)
			for _, f := range applied {
				fmt.Fprintln(cmd.OutOrStdout(), "applied", f)
			}
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to apply: the schema is current")
			}
			return nil
		}),
	}
	return group("migrate", "Show or apply the database's schema migrations", status, up)
}

func printStatus(w io.Writer, db *store.DB, st *store.MigrationStatus) {
	fmt.Fprintf(w, "database: %s\n", db.Location)
	if st.Legacy {
		fmt.Fprintln(w, "made by a release before versioned migrations: its schema is the baseline, recorded as applied at the next migrate up or start")
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, m := range st.Applied {
		how := "applied " + m.ExecutedAt.UTC().Format(time.RFC3339)
		if m.Baseline {
			how = "baseline (was there) " + m.ExecutedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "  %s_%s.sql\t%s\t%s\n", m.Version, m.Description, how, m.Operator)
	}
	for _, f := range st.Pending {
		fmt.Fprintf(tw, "  %s\tpending\t\n", f)
	}
	_ = tw.Flush()
	for _, v := range st.Unknown {
		fmt.Fprintf(w, "applied by a newer release (unknown to this binary): %s\n", v)
	}
	if st.Current() {
		fmt.Fprintln(w, "the schema is current")
	} else {
		fmt.Fprintf(w, "%d pending: apply with entitled migrate up\n", len(st.Pending))
	}
}

func keysCmd() *cobra.Command {
	var (
		org, name, expires string
		scopes             []string
	)
	create := &cobra.Command{
		Use:   "create --org SLUG --name NAME --scope ADMIN [--scope READ ...] [--expires RFC3339]",
		Short: "Create an API key in an organization, straight in the database",
		Long: "Create an API key in an organization, straight in the database, and print its secret once.\n" +
			"It is the operator's way back in when every admin key of an organization is lost: it needs\n" +
			"no credential, only the database (ENTITLED_DATABASE_URL). The action is logged.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" || name == "" || len(scopes) == 0 {
				return usageError{errors.New("keys create needs --org, --name and at least one --scope")}
			}
			in := auth.CreateKeyInput{Name: name}
			for _, s := range scopes {
				in.Scopes = append(in.Scopes, tenant.Scope(strings.ToUpper(strings.TrimSpace(s))))
			}
			if expires != "" {
				t, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return usageError{fmt.Errorf("--expires %q: want RFC 3339, such as 2027-01-31T00:00:00Z", expires)}
				}
				in.ExpiresAt = &t
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			db, err := openStore(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			key, secret, err := app.CreateKey(ctx, db, slog.Default(), org, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created API key %q (%s) in organization %q with scopes %s. Its secret (shown once):\n\n    %s\n\n",
				key.Name, key.ID, org, strings.Join(scopeNames(key.Scopes), ", "), secret)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&org, "org", "", "slug of the organization")
	f.StringVar(&name, "name", "", "name of the key")
	f.StringSliceVar(&scopes, "scope", nil, "ADMIN, READ or CHECK (repeat, or separate with commas)")
	f.StringVar(&expires, "expires", "", "expiry, RFC 3339 (default: never)")
	return group("keys", "Manage API keys", create)
}

func policyCmd() *cobra.Command {
	schema := &cobra.Command{
		Use:   "input-schema",
		Short: "Print the JSON Schema of the policy input document",
		Long:  "Print the JSON Schema of the policy input document, for policy authors who develop with the stock opa CLI.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(policy.InputSchema())
			return err
		},
	}
	return group("policy", "Policy authors' tools", schema)
}

// licenseCmd verifies signed license files and decides from them offline,
// as vendors' software does with sdk/licensefile: exit 0 valid / allowed,
// 1 invalid / denied, 2 a usage error.
func licenseCmd() *cobra.Command {
	var (
		jwksFrom, entitlement, reqContext string
		requested                         float64
	)
	verify := &cobra.Command{
		Use:   "verify --jwks FILE|URL LICENSE_FILE",
		Short: "Verify a signed license file against trusted keys and print its dataset",
		Long: "Verify a signed license file (\"-\": standard input) against the public keys of a JWKS, a file or an\n" +
			"http(s) URL such as https://entitled.example.com/v1/orgs/acme/jwks.json, and print the signed\n" +
			"dataset as JSON. Exit 0 when the file is valid now; 1, saying why, when it is not (a bad signature,\n" +
			"a key the JWKS does not hold, expired, the clock before its issue); 2 for a usage error.",
		Args: licenseFileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := verifiedLicense(cmd, jwksFrom, args[0])
			if err != nil {
				return err
			}
			ds := f.Dataset()
			if now := time.Now(); !now.Before(ds.Exp) {
				return fmt.Errorf("license file: the signature is valid (key %s) but the file expired at %s", f.Kid(), ds.Exp.Format(time.RFC3339))
			}
			return printJSON(cmd.OutOrStdout(), ds)
		},
	}
	check := &cobra.Command{
		Use:   "check --jwks FILE|URL --entitlement SLUG [--requested N] [--context JSON] LICENSE_FILE",
		Short: "Decide from a signed license file, offline, and print the decision",
		Long: "Verify a signed license file as license verify does, then decide whether its instance may use the\n" +
			"entitlement now, with the same Rego and the same answer as the server's allowed, and print the\n" +
			"decision as JSON. Exit 0 when allowed; 1 when denied (LICENSE_FILE_EXPIRED past the file's expiry)\n" +
			"or the file is invalid; 2 for a usage error.",
		Args: licenseFileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if entitlement == "" {
				return usageError{errors.New("license check needs --entitlement SLUG")}
			}
			var req *float64
			if cmd.Flags().Changed("requested") {
				req = &requested
			}
			var ctxDoc map[string]any
			if reqContext != "" {
				if err := json.Unmarshal([]byte(reqContext), &ctxDoc); err != nil || ctxDoc == nil {
					return usageError{fmt.Errorf("--context %q: want a JSON object, such as '{\"country\": \"DE\"}'", reqContext)}
				}
			}
			f, err := verifiedLicense(cmd, jwksFrom, args[0])
			if err != nil {
				return err
			}
			d, err := f.Decide(entitlement, req, ctxDoc, time.Now())
			if errors.Is(err, licensefile.ErrRequest) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if err := printJSON(cmd.OutOrStdout(), d); err != nil {
				return err
			}
			if !d.Allowed {
				return fmt.Errorf("denied: %s: %s", d.Reason, strings.Join(d.Reasons, "; "))
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{verify, check} {
		c.Flags().StringVar(&jwksFrom, "jwks", "", "the trusted public keys: a JWKS file, or an http(s) URL serving one")
	}
	cf := check.Flags()
	cf.StringVar(&entitlement, "entitlement", "", "slug of the entitlement to decide")
	cf.Float64Var(&requested, "requested", 1, "the amount asked for (NUMBER entitlements)")
	cf.StringVar(&reqContext, "context", "", "the request context, a JSON object (input.request.context)")
	return group("license", "Verify signed license files and decide from them offline", verify, check)
}

// licenseFileArg takes exactly one license file.
func licenseFileArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("%s takes one LICENSE_FILE, got %d arguments", cmd.CommandPath(), len(args))}
	}
	return nil
}

// maxLicenseInput bounds what the license commands read (a JWKS or a
// license file), so a wrong URL cannot feed them without end.
const maxLicenseInput = 16 << 20

// verifiedLicense reads the trusted JWKS and the license file and verifies
// the file now.
func verifiedLicense(cmd *cobra.Command, jwksFrom, path string) (*licensefile.File, error) {
	if jwksFrom == "" {
		return nil, usageError{fmt.Errorf("%s needs --jwks FILE|URL (the keys you trust)", cmd.CommandPath())}
	}
	raw, err := readJWKS(cmd.Context(), jwksFrom)
	if err != nil {
		return nil, err
	}
	jwks, err := licensefile.ParseJWKS(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jwksFrom, err)
	}
	var text []byte
	if path == "-" {
		text, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxLicenseInput))
	} else {
		text, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read license file: %w", err)
	}
	f, err := licensefile.Parse(text)
	if err != nil {
		return nil, err
	}
	if err := f.Verify(jwks); err != nil {
		return nil, err
	}
	return f, nil
}

// readJWKS reads a JWKS from a file or an http(s) URL.
func readJWKS(ctx context.Context, from string) ([]byte, error) {
	if !strings.HasPrefix(from, "http://") && !strings.HasPrefix(from, "https://") {
		b, err := os.ReadFile(from)
		if err != nil {
			return nil, fmt.Errorf("read JWKS: %w", err)
		}
		return b, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
	if err != nil {
		return nil, usageError{fmt.Errorf("--jwks %q: %w", from, err)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: %s", from, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLicenseInput))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", from, err)
	}
	return b, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func scopeNames(s []tenant.Scope) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

// Set at link time by release builds that want them (go build -ldflags
// "-X main.buildDate=2027-01-31T12:00:00Z"); empty, the build information
// Go records decides.
var buildVersion, buildCommit, buildDate string

// versionText is the module version, the commit and its date, from the
// build information Go records in the binary (go build in a git checkout
// records vcs.revision and vcs.time, unless -buildvcs=false).
func versionText() string {
	version, commit, date, modified := "(unknown)", "unknown", "unknown", ""
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	for _, o := range []struct {
		v   *string
		set string
	}{{&version, buildVersion}, {&commit, buildCommit}, {&date, buildDate}} {
		if o.set != "" {
			*o.v = o.set
		}
	}
	return fmt.Sprintf("entitled %s\ncommit %s%s\ndate   %s\n%s", version, commit, modified, date, goVersion)
}
