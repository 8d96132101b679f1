package web

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/static"
	"github.com/s3relay/s3relay/store"
)

// The browser SDKs (analytics.js 2.0 and RudderStack's JavaScript SDK) load
// their bundle and their settings from s3relay itself, so that a page names
// only this host.

// sdkAliases are analytics.js 2.0's one-letter paths: it posts to
// {apiHost}/{first letter of the call type}, and batches to /b.
var sdkAliases = map[string]string{
	"t": "track", "p": "page", "i": "identify", "g": "group", "a": "alias", "s": "screen", "b": "batch",
}

// metricsBodyLimit bounds what POST /v1/m reads before discarding it.
const metricsBodyLimit = 64 << 10

// handleSDK serves the browser SDK bundles vendored from npm (static/sdk).
// Pages of any origin load them, also with <script crossorigin> or under a
// Cross-Origin-Embedder-Policy.
func (s *Server) handleSDK(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	return serveStatic(c, "sdk/"+c.Param("*"))
}

// apiHost is this server's ingestion address as analytics.js 2.0 wants it
// ("host[:port][/path]/v1", no scheme), and the scheme apart.
func (s *Server) apiHost() (host, protocol string) {
	u, _ := url.Parse(s.cfg.BaseURL) // checked in New
	return u.Host + strings.TrimRight(u.Path, "/") + "/v1", u.Scheme
}

// handleProjectSettings is what analytics.js 2.0 fetches from its cdnURL
// before it sends anything: only the Segment.io integration, pointed at this
// server, with the SDK's usage metrics off. Unknown keys: 404.
func (s *Server) handleProjectSettings(c echo.Context) error {
	src, err := s.sourceByWriteKey(c, c.Param("writeKey"))
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		return store.Errorf(store.ENOTFOUND, "Unknown write key.")
	}
	if err != nil {
		return err
	}
	host, protocol := s.apiHost()
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{
				"apiKey":                src.WriteKey,
				"apiHost":               host,
				"protocol":              protocol,
				"unbundledIntegrations": []string{},
				"addBundledMetadata":    true,
				"maybeBundledConfigIds": map[string]any{},
			},
		},
		"plan":                      map[string]any{"track": map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}}},
		"analyticsNextEnabled":      true,
		"middlewareSettings":        map[string]any{},
		"enabledMiddleware":         map[string]any{},
		"metrics":                   map[string]any{"sampleRate": 0},
		"legacyVideoPluginsEnabled": false,
		"remotePlugins":             []any{},
	})
}

// handleSourceConfig is RudderStack's GET /sourceConfig/: the write key comes
// as the Basic user name, and the answer is a source with no destinations
// (device-mode destinations would load code from RudderStack's CDN) and the
// SDK's error and metrics reporting off. Unknown keys: 404.
func (s *Server) handleSourceConfig(c echo.Context) error {
	key, _, ok := c.Request().BasicAuth()
	if !ok || key == "" {
		key = c.QueryParam("writeKey")
	}
	if key == "" {
		return store.Errorf(store.EUNAUTHORIZED, "Missing write key: send it as the HTTP Basic user name.")
	}
	src, err := s.sourceByWriteKey(c, key)
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		return store.Errorf(store.ENOTFOUND, "Unknown write key.")
	}
	if err != nil {
		return err
	}
	off := map[string]bool{"enabled": false}
	return c.JSON(http.StatusOK, map[string]any{
		"isHosted": false,
		"source": map[string]any{
			"id":           src.ID,
			"name":         src.Name,
			"writeKey":     src.WriteKey,
			"workspaceId":  "s3relay",
			"enabled":      true,
			"deleted":      false,
			"config":       map[string]any{"statsCollection": map[string]any{"errors": off, "metrics": off}},
			"destinations": []any{},
			"createdAt":    src.CreatedAt,
			"updatedAt":    src.UpdatedAt,
		},
	})
}

// handleSDKMetrics is analytics.js 2.0's usage metrics endpoint ({apiHost}/m):
// accepted and dropped, as s3relay keeps no metrics of its clients. The
// settings turn them off; older snippets may still send them.
func (s *Server) handleSDKMetrics(c echo.Context) error {
	io.Copy(io.Discard, io.LimitReader(c.Request().Body, metricsBodyLimit))
	return c.JSON(http.StatusOK, map[string]bool{"success": true})
}

// beaconKey lets RudderStack's sendBeacon batches in: a beacon cannot set
// headers, so the write key comes in the query string, and is passed on as
// the Basic user name the Segment handler reads.
func beaconKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if _, _, ok := r.BasicAuth(); !ok {
			key := c.QueryParam("writeKey")
			if key == "" {
				return store.Errorf(store.EUNAUTHORIZED, "Missing write key: send it as ?writeKey= in the URL.")
			}
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
		}
		return next(c)
	}
}

// sdkPath is the URL path of a vendored SDK file, with a content hash so
// browsers may cache it for good.
func sdkPath(name string) string {
	return "/sdk/" + strings.TrimPrefix(static.Path("sdk/"+name), "/static/sdk/")
}
