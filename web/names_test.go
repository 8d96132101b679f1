package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// controlNames are names that hold control characters: C0, DEL and C1.
var controlNames = []string{"a\x00b", "line\nbreak", "tab\there", "del\x7f", "c1\u0085x", "c1\u009bx", "bell\u0007"}

func TestNamesWithControlCharactersAreRefused(t *testing.T) {
	r := mustMappingRig(t, false)
	for _, name := range controlNames {
		quoted, _ := json.Marshal(name)
		for _, tt := range []struct{ what, path, body string }{
			{"source", "/api/v1/sources", `{"name": ` + string(quoted) + `}`},
			{"destination", "/api/v1/destinations", `{"name": ` + string(quoted) + `, "config": {"bucket": "b", "region": "us-east-1", "auth": "keys"}, "credentials": {"key": "k", "secret": "s"}}`},
			{"mapping", "/api/v1/destinations/" + r.Dest.ID + "/mappings", `{"name": ` + string(quoted) + `}`},
			{"source rename", "/api/v1/sources/" + r.Source.ID, `{"name": ` + string(quoted) + `}`},
		} {
			method := http.MethodPost
			if tt.what == "source rename" {
				method = http.MethodPatch
			}
			resp, body := r.apiRequest(t, method, tt.path, r.Token, tt.body)
			got := mustAPIError(t, body)
			if resp.StatusCode != http.StatusBadRequest || got.Error.Field != "name" || !strings.Contains(got.Error.Message, "control characters") {
				t.Errorf("%s named %q: %d %+v, want 400 naming the name", tt.what, name, resp.StatusCode, got.Error)
			}
		}
	}

	// The dashboard refuses them next to the field.
	c := r.mustSignedIn(t)
	resp, body := c.post("/sources", url.Values{"_csrf": {c.csrf("/sources")}, "name": {"web\x00app"}})
	msg := mustDoc(t, body).Find(`[data-testid="name-error"]`).Text()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "control characters") {
		t.Errorf("dashboard source named with NUL: %d %q, want 422 with the message next to the name", resp.StatusCode, msg)
	}
	form := editorForm(t, c, r.mappingsPage()+"/new")
	form.Set("name", "orders\x1b[31m")
	resp, body = c.post(r.mappingsPage(), form)
	if msg := mustDoc(t, body).Find(`[data-testid="name-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "control characters") {
		t.Errorf("dashboard mapping named with ESC: %d %q", resp.StatusCode, msg)
	}

	ctx := context.Background()
	srcs, _, _ := r.DB.ListSources(ctx, store.Page{Limit: 100})
	for _, s := range srcs {
		if s.Name != "web" {
			t.Errorf("stored source %q", s.Name)
		}
	}
	if ms, _ := r.DB.ListMappings(ctx, r.Dest.ID); len(ms) != 0 {
		t.Errorf("%d mappings stored", len(ms))
	}
	// Names with other characters are fine.
	if resp, body := r.apiRequest(t, http.MethodPost, "/api/v1/sources", r.Token, `{"name": "Café 🦄 — web"}`); resp.StatusCode != http.StatusCreated {
		t.Errorf("a name with accents, emoji and a dash: %d %s", resp.StatusCode, body)
	}
}
