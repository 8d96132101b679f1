// Command s3relay collects analytics events and delivers them into S3.
//
// This file is the only place that wires the parts together: flags and
// environment become a Config, Main opens the database and runs the server.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/term"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ue *usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "s3relay: %s\n", ue.msg)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "s3relay: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

const usage = `usage: s3relay <command> [flags]

commands:
  serve                      serve the dashboard and the APIs, and deliver events
  token create --name NAME   print a new management API token (shown once)
  user add --email EMAIL     create a dashboard user; the password is read from stdin
  user passwd --email EMAIL  change a user's password (read from stdin); ends the user's sessions
  user remove --email EMAIL  remove a user and end their sessions; the last user is kept
  version                    print the version

Run "s3relay <command> -h" for a command's flags.`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return &usageError{"missing command"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "token":
		if len(rest) == 0 || rest[0] != "create" {
			return &usageError{`unknown token command: want "s3relay token create --name NAME"`}
		}
		return runTokenCreate(ctx, rest[1:], stdout, stderr)
	case "user":
		sub := ""
		if len(rest) > 0 {
			sub, rest = rest[0], rest[1:]
		}
		switch sub {
		case "add":
			return runUserAdd(ctx, rest, stdin, stdout, stderr)
		case "passwd":
			return runUserPasswd(ctx, rest, stdin, stdout, stderr)
		case "remove":
			return runUserRemove(ctx, rest, stdout, stderr)
		default:
			return &usageError{`unknown user command: want "s3relay user add|passwd|remove --email EMAIL"`}
		}
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "s3relay", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// env returns the environment variable's value, or def when it is unset.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// newFlagSet returns a flag set that reports mistakes as usage errors.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("s3relay "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// Config is the configuration of "s3relay serve".
type Config struct {
	Addr    string
	DataDir string
	// DatabaseURL, when set, is the PostgreSQL database several replicas
	// share; empty means SQLite in DataDir.
	DatabaseURL   string
	BaseURL       string
	AdminEmail    string
	AdminPassword string
	MaxBacklog    int64
	Retention     time.Duration
	// CommitMaxEvents is the most events one commit of the event writer
	// takes (store.Appender.MaxEvents).
	CommitMaxEvents int
	Engine          delivery.Config
	// DenyPrivateEndpoints refuses loopback and private addresses for
	// destinations' custom endpoints, besides the link-local and metadata
	// addresses always refused.
	DenyPrivateEndpoints bool
}

// Main is a running s3relay: its database, the event writer, the retention
// purge and the HTTP server.
type Main struct {
	Config    Config
	Log       *slog.Logger
	DB        *store.DB
	Events    *store.Appender
	Engine    *delivery.Engine
	Retention *delivery.Retention
	HTTP      *web.Server

	lock *dataDirLock
	ln   net.Listener
}

// Open creates the data dir when needed, locks it, opens the database and
// keys, and binds the listen address. In PostgreSQL mode there is no data
// dir to lock: replicas share the database, and the key comes from the
// environment and must match the database's key check value.
func (m *Main) Open(ctx context.Context) error {
	var keys *store.Keys
	var err error
	if m.Config.DatabaseURL != "" {
		if keys, err = envKeys(); err != nil {
			return err
		}
		if m.DB, err = store.Open(ctx, m.Config.DatabaseURL); err != nil {
			return err
		}
		if err := m.DB.CheckKey(ctx, keys); err != nil {
			return userFacing(err)
		}
		// Times are the database server's (leases compare them across
		// replicas); a host clock far off is worth knowing about anyway.
		if off := m.DB.ClockOffset(); off > time.Second || off < -time.Second {
			m.Log.Warn("this host's clock differs from the database server's: s3relay uses the database's time; set up NTP on both",
				"database_ahead_by", off.Round(time.Millisecond).String())
		}
	} else {
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		// The lock comes before anything else is opened: a second server must
		// neither migrate the database nor reset the first one's uploads.
		if m.lock, err = lockDataDir(m.Config.DataDir); err != nil {
			return err
		}
		if keys, err = store.LoadKeys(m.Config.DataDir); err != nil {
			return err
		}
		if m.DB, err = store.Open(ctx, filepath.Join(m.Config.DataDir, "s3relay.db")); err != nil {
			return err
		}
	}
	m.DB.UseKeys(keys)
	m.Events = m.DB.NewAppender()
	if m.Config.CommitMaxEvents > 0 {
		m.Events.MaxEvents = m.Config.CommitMaxEvents
	}
	clients := &s3.Factory{Endpoints: s3.EndpointPolicy{DenyPrivate: m.Config.DenyPrivateEndpoints}}
	m.DB.UseEndpointCheck(clients.CheckEndpoint)
	// The data dir, locked, remembers the replica id of the process before
	// this one: it is dead, so its leases are released at start and its
	// interrupted uploads resume at once rather than after their expiry.
	ecfg := m.Config.Engine
	if ecfg.Replica == "" {
		ecfg.Replica = delivery.DefaultReplicaID()
	}
	ecfg.Version = buildVersion()
	if ecfg.Previous, err = rememberReplica(m.Config.DataDir, ecfg.Replica); err != nil {
		return err
	}
	m.Engine = delivery.New(m.DB, clients, m.Log, ecfg)
	m.Events.OnCommit = m.Engine.Notify
	m.Retention = &delivery.Retention{DB: m.DB, Log: m.Log, Keep: m.Config.Retention, Replica: ecfg.Replica}
	m.HTTP, err = web.New(web.Config{Addr: m.Config.Addr, BaseURL: m.Config.BaseURL, Version: buildVersion(), MaxBacklog: m.Config.MaxBacklog,
		Replica: ecfg.Replica, DataDir: m.Config.DataDir},
		web.Deps{DB: m.DB, Keys: keys, Log: m.Log, Events: m.Events, TestSender: m.Engine, Uploads: m.Engine,
			Destinations: delivery.NewTester(m.DB, clients)})
	if err == nil {
		m.HTTP.Registerer().MustRegister(m.Engine.Collectors()...)
		m.HTTP.Registerer().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "s3relay_event_commits_total",
			Help: "Commits of the event writer; s3relay_events_received_total over it is how many events share a commit.",
		}, func() float64 { return float64(m.Events.Commits()) }))
	}
	if err != nil {
		return &usageError{err.Error()}
	}
	// Bound before the setup code is printed: a code for a server that
	// cannot listen would lead nowhere.
	if m.ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return m.HTTP.Prepare(ctx, m.Config.AdminEmail, m.Config.AdminPassword)
}

// Run serves until ctx is cancelled. It stops in order: the HTTP server
// first, letting in-flight requests finish; then the event writer once it has
// committed everything those requests handed it; then the delivery engine,
// which seals its open batches and finishes in-flight uploads within its grace
// period. Close then closes the database.
func (m *Main) Run(ctx context.Context) error {
	ln := m.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	m.ln = nil // the HTTP server closes it
	// The writer outlives ctx: it stops only after the HTTP server has.
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan error, 1)
	go func() { writerDone <- m.Events.Run(wctx) }()
	retentionDone := make(chan error, 1)
	go func() { retentionDone <- m.Retention.Run(ctx) }()
	ectx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engineDone := make(chan error, 1)
	go func() { engineDone <- m.Engine.Run(ectx) }()

	m.Log.Info("s3relay serving", "version", buildVersion(), "replica", m.Engine.Replica(), "addr", ln.Addr().String(),
		"url", web.BaseURLFromAddr(ln.Addr().String()), "data_dir", m.Config.DataDir)
	err := m.HTTP.Run(ctx, ln)
	stopWriter()
	werr := <-writerDone
	stopEngine()
	return errors.Join(err, werr, <-engineDone, <-retentionDone)
}

// Close releases what Open acquired; the data dir's lock last.
func (m *Main) Close() error {
	var err error
	if m.ln != nil {
		m.ln.Close()
		m.ln = nil
	}
	if m.DB != nil {
		err = m.DB.Close()
		m.DB = nil
	}
	return errors.Join(err, m.lock.Release())
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var cfg Config
	fs.StringVar(&cfg.Addr, "addr", env("S3RELAY_ADDR", "127.0.0.1:8080"), "listen address (env S3RELAY_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("S3RELAY_DATA_DIR", "./data"), "data directory (env S3RELAY_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", env("S3RELAY_DATABASE_URL", ""), "PostgreSQL database shared by several replicas, postgres://...; empty for SQLite in the data dir (env S3RELAY_DATABASE_URL)")
	fs.StringVar(&cfg.BaseURL, "base-url", env("S3RELAY_BASE_URL", ""), "external URL of the dashboard (env S3RELAY_BASE_URL; default derived from --addr)")
	maxBacklog := fs.String("max-backlog", env("S3RELAY_MAX_BACKLOG", "5000000"), "events waiting for delivery past which ingestion answers 429; 0 for no limit (env S3RELAY_MAX_BACKLOG)")
	retention := fs.String("retention", env("S3RELAY_RETENTION", delivery.DefaultRetention.String()), "how long events are kept after delivery, e.g. 168h (env S3RELAY_RETENTION)")
	workers := fs.String("upload-workers", env("S3RELAY_UPLOAD_WORKERS", "8"), "concurrent uploads to S3 (env S3RELAY_UPLOAD_WORKERS)")
	perDest := fs.String("uploads-per-destination", env("S3RELAY_UPLOADS_PER_DESTINATION", "4"), "concurrent uploads to one destination (env S3RELAY_UPLOADS_PER_DESTINATION)")
	attempts := fs.String("max-attempts", env("S3RELAY_MAX_ATTEMPTS", "0"), "attempts after which a delivery fails even inside --retry-for; 0 for no limit (env S3RELAY_MAX_ATTEMPTS)")
	retryFor := fs.String("retry-for", env("S3RELAY_RETRY_FOR", "24h"), "how long a delivery failing for a retryable reason is retried before it fails (env S3RELAY_RETRY_FOR)")
	rowGroup := fs.String("parquet-row-group-bytes", env("S3RELAY_PARQUET_ROW_GROUP_BYTES", "67108864"), "size of a parquet file's values at which it starts another row group (env S3RELAY_PARQUET_ROW_GROUP_BYTES)")
	commitMax := fs.String("commit-max-events", env("S3RELAY_COMMIT_MAX_EVENTS", strconv.Itoa(store.DefaultCommitMaxEvents)), "most events the requests waiting to be stored share one commit with; a request's events always go in one (env S3RELAY_COMMIT_MAX_EVENTS)")
	backoffMax := fs.String("max-backoff", env("S3RELAY_MAX_BACKOFF", "5m"), "longest wait between attempts (env S3RELAY_MAX_BACKOFF)")
	denyPrivate, denyErr := strconv.ParseBool(env("S3RELAY_DENY_PRIVATE_ENDPOINTS", "false"))
	if denyErr != nil {
		return &usageError{fmt.Sprintf("S3RELAY_DENY_PRIVATE_ENDPOINTS %q: want true or false", os.Getenv("S3RELAY_DENY_PRIVATE_ENDPOINTS"))}
	}
	fs.StringVar(&cfg.Engine.Replica, "replica-id", env("S3RELAY_REPLICA_ID", ""), "this replica's id in the attempt log, leases and metrics (env S3RELAY_REPLICA_ID; default the host name and a random suffix, new at each start)")
	fs.BoolVar(&cfg.DenyPrivateEndpoints, "deny-private-endpoints", denyPrivate, "refuse loopback and private addresses for custom S3 endpoints (env S3RELAY_DENY_PRIVATE_ENDPOINTS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if cfg.MaxBacklog, err = strconv.ParseInt(*maxBacklog, 10, 64); err != nil || cfg.MaxBacklog < 0 {
		return &usageError{fmt.Sprintf("--max-backlog %q: want a whole number of events, 0 or more", *maxBacklog)}
	}
	if cfg.Retention, err = time.ParseDuration(*retention); err != nil || cfg.Retention <= 0 {
		return &usageError{fmt.Sprintf("--retention %q: want a duration such as 168h", *retention)}
	}
	for _, n := range []struct {
		flag  string
		val   *string
		dst   *int
		least int
	}{{"upload-workers", workers, &cfg.Engine.Workers, 1}, {"uploads-per-destination", perDest, &cfg.Engine.PerDestination, 1}, {"max-attempts", attempts, &cfg.Engine.MaxAttempts, 0}} {
		v, err := strconv.Atoi(*n.val)
		if err != nil || v < n.least || v > 1000 {
			return &usageError{fmt.Sprintf("--%s %q: want a whole number from %d to 1000", n.flag, *n.val, n.least)}
		}
		*n.dst = v
	}
	if cfg.Engine.RetryFor, err = time.ParseDuration(*retryFor); err != nil || cfg.Engine.RetryFor < time.Minute {
		return &usageError{fmt.Sprintf("--retry-for %q: want a duration of at least 1m, such as 24h", *retryFor)}
	}
	if cfg.Engine.ParquetRowGroupBytes, err = strconv.ParseInt(*rowGroup, 10, 64); err != nil || cfg.Engine.ParquetRowGroupBytes < 1<<20 {
		return &usageError{fmt.Sprintf("--parquet-row-group-bytes %q: want a whole number of bytes, at least 1048576", *rowGroup)}
	}
	if cfg.CommitMaxEvents, err = strconv.Atoi(*commitMax); err != nil || cfg.CommitMaxEvents < 1 || cfg.CommitMaxEvents > 1000000 {
		return &usageError{fmt.Sprintf("--commit-max-events %q: want a whole number from 1 to 1000000", *commitMax)}
	}
	if cfg.Engine.BackoffMax, err = time.ParseDuration(*backoffMax); err != nil || cfg.Engine.BackoffMax < time.Second {
		return &usageError{fmt.Sprintf("--max-backoff %q: want a duration of at least 1s, such as 5m", *backoffMax)}
	}
	if err := checkDatabaseURL(cfg.DatabaseURL); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return &usageError{fmt.Sprintf("--addr %q: want host:port", cfg.Addr)}
	}
	cfg.AdminEmail, cfg.AdminPassword = os.Getenv("S3RELAY_ADMIN_EMAIL"), os.Getenv("S3RELAY_ADMIN_PASSWORD")
	// The server's live heap is small and its garbage plentiful (decoded
	// events): at Go's default GOGC=100 it spends a quarter of its CPU
	// collecting. A higher target with a memory limit buys that CPU back and
	// still bounds memory. Operators' own GOGC and GOMEMLIMIT win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(stderr, nil))}
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	m.Log.Info("s3relay stopped")
	return m.Close()
}

// openDB opens the database of a data dir for the CLI's one-off commands,
// which may run while a server uses the same data dir. The server owns the
// schema then: the command migrates nothing and refuses a database its
// version is newer than. With no server, the command creates keys and
// migrates under the data dir's lock, taken shared so that commands run
// side by side; a server starting meanwhile waits for it.
//
// With a database URL (PostgreSQL mode) there is no data dir: the command
// opens the shared database, migrating it under its advisory lock when it is
// new, and refuses one a newer s3relay migrated.
func openDB(ctx context.Context, dataDir, databaseURL string) (*store.DB, error) {
	if databaseURL != "" {
		return store.Open(ctx, databaseURL)
	}
	if _, err := os.Stat(dataDir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
		} else {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	path := filepath.Join(dataDir, "s3relay.db")
	lock, err := shareDataDir(dataDir)
	var busy *errDataDirInUse
	if errors.As(err, &busy) {
		if _, err := store.LoadKeys(dataDir); err != nil {
			return nil, err
		}
		db, err := store.OpenMigrated(ctx, path)
		if store.ErrorCode(err) == store.ECONFLICT {
			return nil, fmt.Errorf("%s runs on data dir %s with an older database: upgrade it first (%s)", busy.who(), dataDir, store.ErrorMessage(err))
		}
		return db, err
	}
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := store.LoadKeys(dataDir); err != nil {
		return nil, err
	}
	return store.Open(ctx, path)
}

func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token create", stderr)
	name := fs.String("name", "", "name of the token, e.g. terraform (required)")
	dataDir := fs.String("data-dir", env("S3RELAY_DATA_DIR", "./data"), "data directory (env S3RELAY_DATA_DIR)")
	dbURL := fs.String("database-url", env("S3RELAY_DATABASE_URL", ""), "PostgreSQL database, postgres://...; empty for SQLite in the data dir (env S3RELAY_DATABASE_URL)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkDatabaseURL(*dbURL); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return &usageError{"--name is required"}
	}
	db, err := openDB(ctx, *dataDir, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, secret, err := db.CreateToken(ctx, *name)
	if err != nil {
		return userFacing(err)
	}
	fmt.Fprintln(stdout, secret)
	return db.Close()
}

// userArgs are the flags of the "user" commands, and the password read from
// stdin for those that set one.
type userArgs struct {
	email, password, dataDir, databaseURL string
}

// parseUserArgs reads a user command's --email and --data-dir and, when
// withPassword is set, the password from stdin, checked as sign-up checks it.
func parseUserArgs(name string, args []string, withPassword bool, stdin io.Reader, stderr io.Writer) (userArgs, error) {
	fs := newFlagSet(name, stderr)
	email := fs.String("email", "", "email of the user (required)")
	dataDir := fs.String("data-dir", env("S3RELAY_DATA_DIR", "./data"), "data directory (env S3RELAY_DATA_DIR)")
	dbURL := fs.String("database-url", env("S3RELAY_DATABASE_URL", ""), "PostgreSQL database, postgres://...; empty for SQLite in the data dir (env S3RELAY_DATABASE_URL)")
	if err := parse(fs, args); err != nil {
		return userArgs{}, err
	}
	if err := checkDatabaseURL(*dbURL); err != nil {
		return userArgs{}, err
	}
	ua := userArgs{email: strings.TrimSpace(*email), dataDir: *dataDir, databaseURL: *dbURL}
	if ua.email == "" {
		return userArgs{}, &usageError{"--email is required"}
	}
	if !withPassword {
		return ua, nil
	}
	var err error
	if ua.password, err = readPassword(stdin, stderr); err != nil {
		return userArgs{}, err
	}
	if err := store.ValidateCredentials(ua.email, ua.password); err != nil {
		return userArgs{}, &usageError{store.ErrorMessage(err)}
	}
	return ua, nil
}

func runUserAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ua, err := parseUserArgs("user add", args, true, stdin, stderr)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, ua.dataDir, ua.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.CreateUser(ctx, ua.email, ua.password)
	if err != nil {
		return userFacing(err)
	}
	fmt.Fprintf(stdout, "created user %s\n", u.Email)
	return db.Close()
}

func runUserPasswd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ua, err := parseUserArgs("user passwd", args, true, stdin, stderr)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, ua.dataDir, ua.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByEmail(ctx, ua.email)
	if err != nil {
		return userFacing(err)
	}
	if err := db.SetPassword(ctx, u.ID, ua.password, ""); err != nil {
		return userFacing(err)
	}
	fmt.Fprintf(stdout, "changed the password of %s; their sessions have ended\n", u.Email)
	return db.Close()
}

func runUserRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ua, err := parseUserArgs("user remove", args, false, nil, stderr)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, ua.dataDir, ua.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByEmail(ctx, ua.email)
	if err != nil {
		return userFacing(err)
	}
	if err := db.DeleteUser(ctx, u.ID); err != nil {
		return userFacing(err)
	}
	fmt.Fprintf(stdout, "removed user %s\n", u.Email)
	return db.Close()
}

// readPassword reads one line from stdin, without echo when it is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", &usageError{"no password on stdin"}
	}
	return line, nil
}

// userFacing turns a store error into the one-line message the CLI prints.
func userFacing(err error) error {
	if store.ErrorCode(err) == store.EINTERNAL {
		return err
	}
	return errors.New(store.ErrorMessage(err))
}

// checkDatabaseURL refuses a --database-url that is not a PostgreSQL URL.
func checkDatabaseURL(u string) error {
	if u != "" && !store.IsURL(u) {
		return &usageError{fmt.Sprintf("--database-url %q: want postgres://user:password@host:port/database (or empty for SQLite)", redactURL(u))}
	}
	return nil
}

// redactURL hides a URL's password in messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// envKeys reads PostgreSQL mode's key material: S3RELAY_KEY (64 hex
// characters or the base64 of 32 bytes), else the file named by
// S3RELAY_KEY_FILE holding the same. Every replica needs the same key.
func envKeys() (*store.Keys, error) {
	text, source := os.Getenv("S3RELAY_KEY"), "S3RELAY_KEY"
	if text == "" {
		p := os.Getenv("S3RELAY_KEY_FILE")
		if p == "" {
			return nil, &usageError{"--database-url needs the key material shared by every replica in S3RELAY_KEY or S3RELAY_KEY_FILE (64 hex characters or base64 of 32 bytes; make one with: openssl rand -hex 32)"}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("S3RELAY_KEY_FILE: %w", err)
		}
		text, source = string(b), "S3RELAY_KEY_FILE "+p
	}
	k, err := store.ParseKey(text)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("%s: %v", source, err)}
	}
	return k, nil
}
