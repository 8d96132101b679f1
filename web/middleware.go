package web

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

const (
	userCtxKey  = "user"
	tokenCtxKey = "token"
)

// contentSecurityPolicy allows only the dashboard's own scripts and styles.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// observe logs every request with log/slog and records it in the metrics.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Let the error handler write the response now, so the status is known.
			c.Error(err)
		}
		status := c.Response().Status
		d := time.Since(start)
		route, method := s.routeLabels.route(s.echo, c.Path()), methodLabel(c.Request().Method)
		s.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
		if route == "/healthz" || route == "/readyz" || route == "/metrics" || strings.HasPrefix(route, "/static") {
			return nil
		}
		// Ingestion runs at thousands of requests a second: its successes are
		// counted in the metrics, and only its failures are logged.
		if (strings.HasPrefix(route, "/v1/") || route == "/api/v1/publish" || strings.HasPrefix(route, "/beacon/") ||
			strings.HasPrefix(route, "/sourceConfig") || strings.HasPrefix(route, "/sdk/")) && status < 400 {
			return nil
		}
		s.log.Info("request",
			"method", method,
			"path", c.Request().URL.Path,
			"status", status,
			"duration_ms", d.Milliseconds(),
			"bytes", c.Response().Size,
			"remote", remoteIP(c.Request()),
		)
		return nil
	}
}

// routeLabels is the closed set of route labels: the routes as registered.
// Requests to anything else, and echo's partial matches, are "unmatched".
type routeLabels struct {
	once   sync.Once
	routes map[string]bool
}

func (r *routeLabels) route(e *echo.Echo, path string) string {
	r.once.Do(func() {
		r.routes = map[string]bool{}
		for _, rt := range e.Routes() {
			r.routes[rt.Path] = true
		}
	})
	if !r.routes[path] {
		return "unmatched"
	}
	return path
}

// methodLabel is the metrics label of a request method: one of the methods
// of RFC 9110 and PATCH, else "other", so that a client sending made-up
// methods cannot add a series per request.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}

// noStore keeps dashboard pages, which carry per-user data, out of caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// requireUser lets signed-in users through. Others are sent to sign in (or to
// set up s3relay when no user exists yet), and come back afterwards.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := s.sessionUser(c.Request().Context(), c.Request())
		if err != nil {
			return err
		}
		if u != nil {
			c.Set(userCtxKey, u)
			return next(c)
		}
		target := "/login"
		if need, err := s.needsSetup(c); err != nil {
			return err
		} else if need {
			target = "/setup"
		} else if c.Request().Method == http.MethodGet && c.Request().URL.RequestURI() != "/" {
			target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// requireToken lets requests with a live management API token through.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := bearer(c.Request())
		if !ok {
			return store.Errorf(store.EUNAUTHORIZED, "Missing API token: send Authorization: Bearer <token>.")
		}
		t, err := s.db.TokenBySecret(c.Request().Context(), secret)
		if err != nil {
			return err
		}
		c.Set(tokenCtxKey, t)
		return next(c)
	}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// remoteIP is the address of the connection's peer. Proxies' headers are not
// trusted: s3relay does not know which proxies are in front of it.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// currentUser is the signed-in user of a request behind requireUser.
func currentUser(c echo.Context) *store.User {
	u, _ := c.Get(userCtxKey).(*store.User)
	return u
}
