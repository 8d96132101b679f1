package web

import (
	"html"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// sourceEvents is how many of its latest events a source's page shows.
const sourceEvents = 10

// keyPrefixLen is how much of a write key the sources list shows.
const keyPrefixLen = 6

func (s *Server) sourcesView(c echo.Context) (views.SourcesView, error) {
	v := views.SourcesView{Page: s.page(c, "Sources", "sources")}
	srcs, _, err := s.db.ListSources(c.Request().Context(), store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		return v, err
	}
	for _, src := range srcs {
		v.Sources = append(v.Sources, views.SourceRow{ID: src.ID, Name: src.Name, KeyPrefix: src.WriteKey[:min(keyPrefixLen, len(src.WriteKey))], CreatedAt: src.CreatedAt})
	}
	return v, nil
}

func (s *Server) handleSourceList(c echo.Context) error {
	v, err := s.sourcesView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Sources(v))
}

func (s *Server) handleSourceCreate(c echo.Context) error {
	src := &store.Source{Name: c.FormValue("name")}
	err := s.db.CreateSource(c.Request().Context(), src)
	if store.ErrorCode(err) == store.EINVALID {
		v, lerr := s.sourcesView(c)
		if lerr != nil {
			return lerr
		}
		v.Name, v.Errors = c.FormValue("name"), formErrors(err, nil)
		return s.render(c, http.StatusUnprocessableEntity, views.Sources(v))
	}
	if err != nil {
		return err
	}
	s.log.Info("source created", "source", src.ID, "name", src.Name, "by", actor(c))
	return s.redirectWithFlash(c, "/sources/"+src.ID, "Source “"+src.Name+"” created. Set up your application with its write key below.")
}

// sourceView is the view model of a source's page. Returns ENOTFOUND.
func (s *Server) sourceView(c echo.Context, id string) (views.SourceView, error) {
	ctx := c.Request().Context()
	src, err := s.db.SourceByID(ctx, id)
	if err != nil {
		return views.SourceView{}, err
	}
	v := views.SourceView{
		Page:      s.page(c, src.Name, "sources"),
		ID:        src.ID,
		Name:      src.Name,
		NewName:   src.Name,
		WriteKey:  src.WriteKey,
		CreatedAt: src.CreatedAt,
		BaseURL:   s.cfg.BaseURL,
		Snippets:  append(websiteSnippets(s.cfg.BaseURL, src.WriteKey), setupSnippets(s.cfg.BaseURL, src.WriteKey)...),
		Origins:   strings.Join(src.AllowedOrigins, "\n"),
		EventsURL: eventsURL("/events", store.EventFilter{SourceID: src.ID}),
	}
	names := map[string]string{src.ID: src.Name}
	ds, err := s.db.ListDrops(ctx, src.ID)
	if err != nil {
		return v, err
	}
	if v.Drops, err = s.dropRows(ctx, ds, names); err != nil {
		return v, err
	}
	es, _, err := s.db.ListEvents(ctx, store.EventFilter{SourceID: src.ID, Limit: sourceEvents})
	if err != nil {
		return v, err
	}
	v.Events, err = s.eventRows(ctx, es, names, math.MaxInt64)
	return v, err
}

func (s *Server) handleSourceShow(c echo.Context) error {
	v, err := s.sourceView(c, c.Param("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Source(v))
}

func (s *Server) handleSourceRename(c echo.Context) error {
	name := c.FormValue("name")
	src, err := s.db.RenameSource(c.Request().Context(), c.Param("id"), name)
	if store.ErrorCode(err) == store.EINVALID {
		v, verr := s.sourceView(c, c.Param("id"))
		if verr != nil {
			return verr
		}
		v.NewName, v.Errors = name, formErrors(err, nil)
		return s.render(c, http.StatusUnprocessableEntity, views.Source(v))
	}
	if err != nil {
		return err
	}
	return s.redirectWithFlash(c, "/sources/"+src.ID, "Source renamed to “"+src.Name+"”.")
}

// handleSourceOrigins saves the web origins allowed to send events with the
// source's write key, one per line of the form.
func (s *Server) handleSourceOrigins(c echo.Context) error {
	text := c.FormValue("allowed_origins")
	src, err := s.db.SetAllowedOrigins(c.Request().Context(), c.Param("id"), strings.Fields(text))
	if store.ErrorCode(err) == store.EINVALID {
		v, verr := s.sourceView(c, c.Param("id"))
		if verr != nil {
			return verr
		}
		v.Origins, v.Errors = text, formErrors(err, nil)
		return s.render(c, http.StatusUnprocessableEntity, views.Source(v))
	}
	if err != nil {
		return err
	}
	s.log.Info("source allowed origins changed", "source", src.ID, "origins", len(src.AllowedOrigins), "by", actor(c))
	if len(src.AllowedOrigins) == 0 {
		return s.redirectWithFlash(c, "/sources/"+src.ID, "Pages of any origin may now send events to this source.")
	}
	return s.redirectWithFlash(c, "/sources/"+src.ID, "Allowed origins saved: only pages of "+strings.Join(src.AllowedOrigins, ", ")+" may send events from browsers.")
}

// handleSourceRotateKeyForm asks before the write key is rotated.
func (s *Server) handleSourceRotateKeyForm(c echo.Context) error {
	src, err := s.db.SourceByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Confirm(views.ConfirmView{
		Page:    s.page(c, "Rotate write key", "sources"),
		Message: "Rotate the write key of “" + src.Name + "”? The old key stops working at once: applications still using it get 401 until they are given the new key.",
		Action:  "/sources/" + src.ID + "/rotate-key", Submit: "Rotate write key", CancelHref: "/sources/" + src.ID,
	}))
}

// handleSourceDeleteForm asks before a source is deleted.
func (s *Server) handleSourceDeleteForm(c echo.Context) error {
	src, err := s.db.SourceByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.Confirm(views.ConfirmView{
		Page:    s.page(c, "Delete source", "sources"),
		Message: "Delete the source “" + src.Name + "”? Its write key stops working and its stored events are deleted too, including those not yet delivered. This cannot be undone.",
		Action:  "/sources/" + src.ID + "/delete", Submit: "Delete source", CancelHref: "/sources/" + src.ID,
	}))
}

func (s *Server) handleSourceRotateKey(c echo.Context) error {
	src, err := s.db.RotateWriteKey(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	s.log.Info("source write key rotated", "source", src.ID, "by", actor(c))
	return s.redirectWithFlash(c, "/sources/"+src.ID, "Write key rotated. The old key stopped working: applications must use the new one below.")
}

func (s *Server) handleSourceDelete(c echo.Context) error {
	ctx := c.Request().Context()
	src, err := s.db.SourceByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.db.DeleteSource(ctx, src.ID); err != nil {
		return err
	}
	s.log.Info("source deleted", "source", src.ID, "name", src.Name, "by", actor(c))
	return s.redirectWithFlash(c, "/sources", "Source “"+src.Name+"” deleted, with its stored events.")
}

// actor names who made a change, for the log: a dashboard user or an API token.
func actor(c echo.Context) string {
	if u := currentUser(c); u != nil {
		return u.Email
	}
	if t, ok := c.Get(tokenCtxKey).(*store.APIToken); ok {
		return "token " + t.Name
	}
	return ""
}

// websiteSnippets are the source page's snippets for web pages: each loads
// an unmodified browser SDK and its settings from this server (base) and
// sends nothing to any other host. The browser test runs these very
// snippets.
func websiteSnippets(base, key string) []views.Snippet {
	jsBase, jsKey := strconv.Quote(base), strconv.Quote(key)
	segmentScript := `<script>window.analytics = { _cdn: ` + strconv.Quote(base+"/sdk") + ` }</script>
<script src="` + html.EscapeString(base+sdkPath("analytics-next/index.js")) + `"></script>
`
	rudderScript := `<script src="` + html.EscapeString(base+sdkPath("rudderstack/index.js")) + `"></script>
`
	return []views.Snippet{
		{
			ID:    "snippet-web-segment",
			Tab:   views.TabWebsite,
			Title: "Website: analytics.js 2.0 (Segment)",
			Code: segmentScript + `<script>
  analytics = AnalyticsNext.AnalyticsBrowser.load({ writeKey: ` + jsKey + `, cdnURL: ` + jsBase + ` })
  analytics.page()
</script>`,
		},
		{
			ID:    "snippet-web-segment-batching",
			Tab:   views.TabWebsite,
			Title: "Website: analytics.js 2.0 (Segment), batching",
			Code: segmentScript + `<script>
  analytics = AnalyticsNext.AnalyticsBrowser.load({ writeKey: ` + jsKey + `, cdnURL: ` + jsBase + ` }, {
    integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 10, timeout: 5000 } } } },
  })
  analytics.page()
</script>`,
		},
		{
			ID:    "snippet-web-rudder",
			Tab:   views.TabWebsite,
			Title: "Website: RudderStack JavaScript SDK",
			Code: rudderScript + `<script>
  rudderanalytics = new rudderanalytics.RudderAnalytics()
  rudderanalytics.load(` + jsKey + `, ` + jsBase + `, { configUrl: ` + jsBase + ` })
  rudderanalytics.page()
</script>`,
		},
		{
			ID:    "snippet-web-rudder-beacon",
			Tab:   views.TabWebsite,
			Title: "Website: RudderStack JavaScript SDK, beacons",
			Code: rudderScript + `<script>
  rudderanalytics = new rudderanalytics.RudderAnalytics()
  rudderanalytics.load(` + jsKey + `, ` + jsBase + `, {
    configUrl: ` + jsBase + `,
    useBeacon: true,
    beaconQueueOptions: { flushQueueInterval: 10000 },
  })
  rudderanalytics.page()
</script>`,
		},
	}
}

// setupSnippets are the ready-to-paste ways to send events to a source, with
// this server's base URL and the source's write key filled in.
func setupSnippets(base, key string) []views.Snippet {
	return []views.Snippet{
		{
			ID:      "snippet-segment-go",
			Title:   "Go: analytics-go (Segment)",
			Install: "go get github.com/segmentio/analytics-go/v3",
			Code:    goSnippet(`"github.com/segmentio/analytics-go/v3"`, "Endpoint", base, key),
		},
		{
			ID:      "snippet-segment-node",
			Title:   "Node.js: @segment/analytics-node",
			Install: "npm install @segment/analytics-node",
			Code: `import { Analytics } from '@segment/analytics-node'

const analytics = new Analytics({
  writeKey: '` + key + `',
  host: '` + base + `',
})

analytics.track({ userId: 'u1', event: 'Signed Up' })`,
		},
		{
			ID:      "snippet-rudder-node",
			Title:   "Node.js: RudderStack rudder-sdk-node",
			Install: "npm install @rudderstack/rudder-sdk-node",
			Code: `const Analytics = require('@rudderstack/rudder-sdk-node')

const client = new Analytics('` + key + `', {
  dataPlaneUrl: '` + base + `',
})

client.track({ userId: 'u1', event: 'Signed Up' })`,
		},
		{
			ID:      "snippet-rudder-go",
			Title:   "Go: RudderStack analytics-go",
			Install: "go get github.com/rudderlabs/analytics-go/v4",
			Code:    goSnippet(`analytics "github.com/rudderlabs/analytics-go/v4"`, "DataPlaneUrl", base, key),
		},
		{
			ID:    "snippet-curl",
			Title: "curl: Segment tracking API",
			Code: `curl -u ` + key + `: \
  -H 'Content-Type: application/json' \
  -d '{"userId":"u1","event":"Signed Up"}' \
  ` + base + `/v1/track`,
		},
		{
			ID:    "snippet-publish",
			Title: "curl: publish API",
			Code: `curl -H 'Authorization: Bearer ` + key + `' \
  -H 'Content-Type: application/json' \
  -d '{"topic":"user.created","data":{"user_id":"u1"}}' \
  ` + base + `/api/v1/publish`,
		},
	}
}

// goSnippet is a Go program that sends one track call with a Segment-style
// client library: importSpec is its import line, urlField the Config field
// that takes the server's URL.
func goSnippet(importSpec, urlField, base, key string) string {
	return `package main

import (
	"log"

	` + importSpec + `
)

func main() {
	client, err := analytics.NewWithConfig(` + strconv.Quote(key) + `, analytics.Config{
		` + urlField + `: ` + strconv.Quote(base) + `,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	if err := client.Enqueue(analytics.Track{UserId: "u1", Event: "Signed Up"}); err != nil {
		log.Fatal(err)
	}
}`
}
