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
		// The ingestion routes enforce their own limits while decompressing,
		// and answer them with the CORS headers a page needs to read them.
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/beacon/") || p == "/api/v1/publish"
		},
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
	app.GET("/sources/:id", s.handleSourceShow)
	app.POST("/sources/:id/rename", s.handleSourceRename)
	app.GET("/sources/:id/rotate-key", s.handleSourceRotateKeyForm)
	app.POST("/sources/:id/rotate-key", s.handleSourceRotateKey)
	app.POST("/sources/:id/origins", s.handleSourceOrigins)
	app.GET("/sources/:id/delete", s.handleSourceDeleteForm)
	app.POST("/sources/:id/delete", s.handleSourceDelete)
	app.GET("/destinations", s.handleDestinationList)
	app.GET("/destinations/new", s.handleDestinationNew)
	app.GET("/destinations/new/:step", s.handleDestinationNewShow)
	app.POST("/destinations/new/:step", s.handleDestinationNewStep)
	app.POST("/destinations/new/access-help", s.handleAccessHelp)
	app.GET("/destinations/:id", s.handleDestinationShow)
	app.GET("/destinations/:id/:step", s.handleDestinationStep)
	app.POST("/destinations/:id/:step", s.handleDestinationSaveStep)
	app.POST("/destinations/:id/access-help", s.handleAccessHelp)
	app.POST("/destinations/:id/test", s.handleDestinationTest)
	app.POST("/destinations/:id/enable", s.handleDestinationEnable)
	app.POST("/destinations/:id/enabled", s.handleDestinationToggle)
	app.GET("/destinations/:id/delete", s.handleDestinationDeleteForm)
	app.POST("/destinations/:id/delete", s.handleDestinationDelete)
	app.GET("/destinations/:id/mappings", s.handleMappingList)
	app.GET("/destinations/:id/mappings/new", s.handleMappingNew)
	app.POST("/destinations/:id/mappings", s.handleMappingSave)
	app.POST("/destinations/:id/mappings/live", s.handleMappingLive)
	app.POST("/destinations/:id/mappings/default", s.handleMappingAddDefault)
	app.GET("/destinations/:id/mappings/:mid", s.handleMappingEdit)
	app.POST("/destinations/:id/mappings/:mid", s.handleMappingSave)
	app.POST("/destinations/:id/mappings/:mid/delete", s.handleMappingDelete)
	app.POST("/destinations/:id/mappings/:mid/test-send", s.handleMappingTestSend)
	app.GET("/deliveries", s.handleDeliveryList)
	app.GET("/deliveries/:id", s.handleDeliveryShow)
	app.POST("/deliveries/:id/retry", s.handleDeliveryRetry)
	app.POST("/destinations/:id/retry-failed", s.handleDestinationRetryFailed)
	app.GET("/events", s.handleEventList)
	app.GET("/events/rows", s.handleEventRows)
	app.GET("/events/:seq", s.handleEventShow)
	app.GET("/settings", s.handleSettings)
	app.POST("/settings/tokens", s.handleTokenCreate)
	app.POST("/settings/tokens/:id/revoke", s.handleTokenRevoke)
	app.POST("/settings/users", s.handleUserCreate)
	app.GET("/settings/users/:id/remove", s.handleUserRemoveForm)
	app.POST("/settings/users/:id/remove", s.handleUserRemove)
	app.POST("/settings/password", s.handlePasswordChange)

	// Ingestion: the Segment-compatible API, and the publish API, which
	// authenticates with a source's write key instead of an API token.
	// Every ingestion route answers CORS preflights itself, before any
	// dashboard middleware, and unknown paths under /v1 and /beacon answer a
	// JSON 404 (the groups' catch-all routes).
	v1 := e.Group("/v1", s.cors)
	for _, endpoint := range []string{"track", "identify", "page", "screen", "group", "alias", "batch"} {
		v1.POST("/"+endpoint, s.handleSegment(endpoint))
	}
	for alias, endpoint := range sdkAliases {
		v1.POST("/"+alias, s.handleSegment(endpoint))
	}
	v1.POST("/m", s.handleSDKMetrics)
	v1.GET("/projects/:writeKey/settings", s.handleProjectSettings)
	v1.OPTIONS("/*", s.handlePreflight)
	beacon := e.Group("/beacon", s.cors)
	beacon.POST("/v1/batch", s.handleSegment("batch"), beaconKey)
	beacon.OPTIONS("/*", s.handlePreflight)
	e.GET("/sourceConfig", s.handleSourceConfig, s.cors)
	e.GET("/sourceConfig/", s.handleSourceConfig, s.cors)
	e.OPTIONS("/sourceConfig", s.handlePreflight)
	e.OPTIONS("/sourceConfig/", s.handlePreflight)
	e.POST("/api/v1/publish", s.handlePublish, s.cors)
	e.OPTIONS("/api/v1/publish", s.handlePreflight)
	e.GET("/sdk/*", s.handleSDK)

	// Management API.
	api := e.Group("/api/v1", s.requireToken)
	api.GET("/sources", s.handleAPISourceList)
	api.GET("/replicas", s.handleAPIReplicaList)
	api.GET("/destinations", s.handleAPIDestinationList)
	api.POST("/destinations", s.handleAPIDestinationCreate)
	api.GET("/destinations/:id", s.handleAPIDestinationGet)
	api.PATCH("/destinations/:id", s.handleAPIDestinationUpdate)
	api.DELETE("/destinations/:id", s.handleAPIDestinationDelete)
	api.POST("/destinations/:id/test", s.handleAPIDestinationTest)
	api.POST("/sources", s.handleAPISourceCreate)
	api.GET("/sources/:id", s.handleAPISourceGet)
	api.PATCH("/sources/:id", s.handleAPISourceUpdate)
	api.DELETE("/sources/:id", s.handleAPISourceDelete)
	api.POST("/sources/:id/rotate-key", s.handleAPISourceRotateKey)
	api.GET("/events", s.handleAPIEventList)
	api.GET("/deliveries", s.handleAPIDeliveryList)
	api.GET("/deliveries/:id", s.handleAPIDeliveryGet)
	api.POST("/deliveries/:id/retry", s.handleAPIDeliveryRetry)
	api.POST("/destinations/:id/retry-failed", s.handleAPIDestinationRetryFailed)
	api.GET("/destinations/:id/mappings", s.handleAPIMappingList)
	api.POST("/destinations/:id/mappings", s.handleAPIMappingCreate)
	api.GET("/destinations/:id/mappings/:mid", s.handleAPIMappingGet)
	api.PATCH("/destinations/:id/mappings/:mid", s.handleAPIMappingUpdate)
	api.DELETE("/destinations/:id/mappings/:mid", s.handleAPIMappingDelete)
	api.POST("/destinations/:id/mappings/:mid/preview", s.handleAPIMappingPreview)
	api.POST("/destinations/:id/mappings/:mid/test-send", s.handleAPIMappingTestSend)

	// Unknown API paths answer in JSON like the rest of the API.
	e.Any("/api/*", func(c echo.Context) error { return echo.NewHTTPError(http.StatusNotFound, "No such API route.") })
}

// handleStatic serves embedded assets. URLs made by static.Path carry a
// content hash, so those responses may be cached for good.
func (s *Server) handleStatic(c echo.Context) error {
	return serveStatic(c, c.Param("*"))
}

// serveStatic serves one embedded file; a content hash in the query (v=)
// makes it cacheable for good.
func serveStatic(c echo.Context, name string) error {
	if c.QueryParam("v") != "" {
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Response().Header().Set("Cache-Control", "no-cache")
	}
	f, err := static.FS.Open(name)
	if err != nil {
		return echo.ErrNotFound
	}
	// Embedded files have no modification time: without an ETag, "no-cache"
	// would download a file again on every page view (the SDK bundles a
	// snippet names without a version, analytics.js 2.0's lazy chunks).
	if h := static.Hash(name); h != "" {
		c.Response().Header().Set("ETag", `"`+h+`"`)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		return echo.ErrNotFound
	}
	http.ServeContent(c.Response(), c.Request(), name, fi.ModTime(), f.(io.ReadSeeker))
	return nil
}
