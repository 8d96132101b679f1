// Package web is s3relay's HTTP server: the dashboard, the ingestion API, the
// management API and the health endpoints, on one echo instance.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// Config is what the server needs from the command line and environment.
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:8080".
	Addr string
	// BaseURL is the external URL of the dashboard; cookies are Secure when it
	// is https.
	BaseURL string
	// SessionIdle ends a dashboard session after this long without a request.
	SessionIdle time.Duration
	// SessionMax ends a dashboard session this long after sign-in.
	SessionMax time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration
	// Version is shown in /metrics.
	Version string
	// MaxBacklog is the number of events waiting for delivery past which the
	// ingestion APIs answer 429; 0 means no limit.
	MaxBacklog int64
	// Replica labels every metric (replica="..."), so that those of several
	// replicas can be told apart and summed; no label when empty.
	Replica string
	// DataDir keeps the one-time setup code (file setup-code, mode 0600)
	// until an administrator exists, so that it survives restarts; "" keeps
	// it in memory only.
	DataDir string
}

// Deps are the parts the server works with.
type Deps struct {
	DB   *store.DB
	Keys *store.Keys
	Log  *slog.Logger
	// Events stores what the ingestion APIs accept.
	Events Appender
	// Backlog tells how far delivery is behind, for the 429 answer.
	Backlog Backlogger
	// Destinations runs connection tests and knows the server's own AWS
	// identity; a delivery.Tester with a client factory of its own when nil.
	Destinations DestinationTester
	// TestSender writes the mapping editor's test events: the delivery
	// engine; an engine of its own, never run, when nil.
	TestSender TestSender
	// Uploads is woken when a user retries deliveries: the delivery engine.
	// When nil, retried deliveries wait for the engine's next poll.
	Uploads UploadWaker
}

// Server is the HTTP side of s3relay.
type Server struct {
	cfg     Config
	db      *store.DB
	keys    *store.Keys
	log     *slog.Logger
	echo    *echo.Echo
	metrics *prometheus.Registry
	// registerer is metrics with the replica label.
	registerer prometheus.Registerer
	secure     bool
	// origin is the base URL's origin, which the dashboard's forms come from.
	origin string

	sessions *sessionStore
	logins   *limiter

	setupMu   sync.Mutex
	setupCode string

	events  Appender
	backlog *backlogCache

	destinations DestinationTester
	testSender   TestSender

	uploads    UploadWaker
	throughput throughputCache

	httpRequests    *prometheus.HistogramVec
	routeLabels     routeLabels
	eventsStored    prometheus.Counter
	eventsDuplicate prometheus.Counter
	eventsDropped   *prometheus.CounterVec
	ingestRefused   prometheus.Counter
}

// New returns a server. Call Run to serve.
func New(cfg Config, deps Deps) (*Server, error) {
	db, keys, log := deps.DB, deps.Keys, deps.Log
	if deps.Events == nil {
		return nil, errors.New("web: no event appender")
	}
	if deps.Backlog == nil {
		deps.Backlog = db
	}
	if deps.Destinations == nil {
		deps.Destinations = delivery.NewTester(db, &s3.Factory{})
	}
	if deps.TestSender == nil {
		deps.TestSender = delivery.New(db, &s3.Factory{}, log, delivery.Config{})
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 12 * time.Hour
	}
	if cfg.SessionMax == 0 {
		cfg.SessionMax = 30 * 24 * time.Hour
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = BaseURLFromAddr(cfg.Addr)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{
		cfg:     cfg,
		db:      db,
		keys:    keys,
		log:     log,
		echo:    echo.New(),
		metrics: prometheus.NewRegistry(),
		secure:  u.Scheme == "https",
		origin:  normalizeOrigin(u.Scheme + "://" + u.Host),
		logins:  newLimiter(loginEvery, loginBurst, loginMaxKeys),
		events:  deps.Events,
		backlog: &backlogCache{src: deps.Backlog},

		destinations: deps.Destinations,
		uploads:      deps.Uploads,
		testSender:   deps.TestSender,
	}
	s.registerer = s.metrics
	if cfg.Replica != "" {
		s.registerer = prometheus.WrapRegistererWith(prometheus.Labels{"replica": cfg.Replica}, s.metrics)
	}
	s.sessions = newSessionStore(db, keys, store.SessionPolicy{Idle: cfg.SessionIdle, Max: cfg.SessionMax}, s.secure)
	s.registerer.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.httpRequests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "s3relay_http_request_duration_seconds",
		Help:    "HTTP requests by route and status, with their duration.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"})
	s.eventsStored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3relay_events_received_total", Help: "Messages accepted and stored by the ingestion APIs.",
	})
	s.eventsDuplicate = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3relay_events_duplicate_total", Help: "Messages received again (same id, same source) and stored once.",
	})
	s.eventsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3relay_events_dropped_total", Help: "Invalid messages dropped from accepted batches, by reason.",
	}, []string{"reason"})
	s.ingestRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3relay_events_refused_total", Help: "Messages refused with 429 because delivery was behind.",
	})
	s.registerer.MustRegister(s.httpRequests, s.eventsStored, s.eventsDuplicate, s.eventsDropped, s.ingestRefused)
	s.registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "s3relay_storage_full_total", Help: "Commits of events refused because the data dir's disk was full.",
	}, func() float64 { return float64(db.DiskFullErrors()) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "s3relay_storage_full", Help: "1 while the data dir's disk is full and ingestion answers 503, else 0.",
	}, func() float64 {
		if _, full := db.DiskFull(); full {
			return 1
		}
		return 0
	}))
	s.registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "s3relay_build_info",
		Help:        "Always 1; the version label tells which build runs.",
		ConstLabels: prometheus.Labels{"version": cfg.Version},
	}, func() float64 { return 1 }))

	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.routes()
	return s, nil
}

// BaseURLFromAddr derives the dashboard's URL from a listen address: a
// wildcard host becomes localhost.
func BaseURLFromAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Registry returns the Prometheus registry served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics }

// Registerer returns where other parts (the delivery engine) add their
// metrics to /metrics: it gives them the replica label.
func (s *Server) Registerer() prometheus.Registerer { return s.registerer }

// Handler returns the server's HTTP handler, for tests.
func (s *Server) Handler() http.Handler { return s.echo }

// Prepare creates the first administrator from the environment or, when no
// user exists, makes the one-time setup code and logs it. It is called once,
// before serving.
func (s *Server) Prepare(ctx context.Context, adminEmail, adminPassword string) error {
	n, err := s.db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.forgetSetupCode(ctx)
		return nil
	}
	if adminEmail != "" && adminPassword != "" {
		if _, err := s.db.CreateFirstUser(ctx, adminEmail, adminPassword); err != nil {
			return fmt.Errorf("create admin from S3RELAY_ADMIN_EMAIL: %w", errors.New(store.ErrorMessage(err)))
		}
		s.log.Info("created the first administrator from the environment", "email", adminEmail)
		return nil
	}
	code, err := s.loadSetupCode(ctx)
	if err != nil {
		return err
	}
	s.setupMu.Lock()
	s.setupCode = code
	s.setupMu.Unlock()
	s.log.Warn("no user exists yet: open the dashboard and enter this setup code",
		"url", s.cfg.BaseURL+"/setup", "setup_code", s.setupCode)
	return nil
}

// Run serves on ln until ctx is cancelled, then stops accepting connections
// and waits (up to the shutdown timeout) for in-flight requests to finish.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
