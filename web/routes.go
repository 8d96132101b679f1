package web

import (
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/s3relay/s3relay/static"
)

// routes registers every route of the server, in one place.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: true}))
	e.Use(s.observe)
	e.Use(s.securityHeaders)
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: "2M",
		// The ingestion API enforces its own limits while decompressing.
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/v1/") },
	}))

	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	e.GET("/metrics", s.handleMetrics)
	e.GET("/static/*", s.handleStatic)

	// Dashboard: every route carries the CSRF check and no-store.
	dash := e.Group("", s.csrf, noStore)
	dash.GET("/setup", s.handleSetupForm)
	dash.POST("/setup", s.handleSetup)
	dash.GET("/login", s.handleLoginForm)
	dash.POST("/login", s.handleLogin)
	dash.POST("/logout", s.handleLogout)

	app := dash.Group("", s.requireUser)
	app.GET("/", s.handleHome)
	app.GET("/sources", s.handleSourceList)
	app.POST("/sources", s.handleSourceCreate)
	app.GET("/destinations", s.handleDestinationList)
	app.GET("/deliveries", s.handleDeliveryList)
	app.GET("/events", s.handleEventList)
	app.GET("/settings", s.handleSettings)
	app.POST("/settings/tokens", s.handleTokenCreate)
	app.POST("/settings/tokens/:id/revoke", s.handleTokenRevoke)
	app.POST("/settings/users", s.handleUserCreate)

	// Ingestion: the Segment-compatible API, and the publish API, which
	// authenticates with a source's write key instead of an API token.
	for _, endpoint := range []string{"track", "identify", "page", "screen", "group", "alias", "batch"} {
		e.POST("/v1/"+endpoint, s.handleSegment(endpoint))
	}
	e.POST("/api/v1/publish", s.handlePublish)

	// Management API.
	api := e.Group("/api/v1", s.requireToken)
	api.GET("/sources", s.handleAPISourceList)

	// Unknown API paths answer in JSON like the rest of the API.
	e.Any("/api/*", func(c echo.Context) error { return echo.NewHTTPError(http.StatusNotFound, "No such API route.") })
}

// handleStatic serves embedded assets. URLs made by static.Path carry a
// content hash, so those responses may be cached for good.
func (s *Server) handleStatic(c echo.Context) error {
	if c.QueryParam("v") != "" {
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Response().Header().Set("Cache-Control", "no-cache")
	}
	name := c.Param("*")
	f, err := static.FS.Open(name)
	if err != nil {
		return echo.ErrNotFound
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		return echo.ErrNotFound
	}
	http.ServeContent(c.Response(), c.Request(), name, fi.ModTime(), f.(io.ReadSeeker))
	return nil
}
