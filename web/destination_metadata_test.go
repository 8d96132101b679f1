package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// Delivery metadata (Outpost's delivery_metadata) is set on the destination
// as {string: string}, checked as S3 user metadata, and PATCH replaces it.
func TestAPIDestinationDeliveryMetadata(t *testing.T) {
	e := MustEnv(t)
	token := e.mustToken(t)
	body := func(md any) string {
		cfg := map[string]any{"bucket": "my-events", "region": "us-east-1", "auth": "role", "role_arn": testRoleARN}
		if md != nil {
			cfg["delivery_metadata"] = md
		}
		b, _ := json.Marshal(map[string]any{"name": "Warehouse", "config": cfg})
		return string(b)
	}
	tests := []struct {
		name    string
		md      any
		message string
	}{
		{"name with a space", map[string]string{"my team": "a"}, "letters, digits"},
		{"non-ASCII name", map[string]string{"équipe": "a"}, "letters, digits"},
		{"empty name", map[string]string{"": "a"}, "empty"},
		{"empty value", map[string]string{"team": ""}, "needs a value"},
		{"non-ASCII value", map[string]string{"team": "données"}, "printable ASCII"},
		{"line break", map[string]string{"team": "a\r\nx-amz-acl: public-read"}, "printable ASCII"},
		{"tab", map[string]string{"team": "a\tb"}, "printable ASCII"},
		{"trailing space", map[string]string{"team": "a "}, "space"},
		{"names alike but for case", map[string]string{"Team": "a", "team": "b"}, "lowercases"},
		{"over the size", map[string]string{"a": strings.Repeat("x", 1000), "b": strings.Repeat("y", 1000)}, "1536"},
		{"not a string", map[string]any{"n": 1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, body(tt.md))
			got := mustAPIError(t, out)
			if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(got.Error.Field, "config.delivery_metadata") {
				t.Fatalf("got %d %+v, want 400 on config.delivery_metadata", resp.StatusCode, got.Error)
			}
			if !strings.Contains(got.Error.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", got.Error.Message, tt.message)
			}
		})
	}

	// Without any, the response shows {}.
	resp, out := e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, body(nil))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(out, `"delivery_metadata":{}`) {
		t.Fatalf("create without metadata: %d %s, want 201 with delivery_metadata {}", resp.StatusCode, out)
	}
	// Names are stored lowercased, as S3 returns them.
	resp, out = e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, body(map[string]string{"App-ID": "my-app", "source": "outpost"}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, out)
	}
	d := mustDestinationJSON(t, out)
	if want := map[string]string{"app-id": "my-app", "source": "outpost"}; !reflect.DeepEqual(d.Config.DeliveryMetadata, want) {
		t.Errorf("created: got %v, want %v", d.Config.DeliveryMetadata, want)
	}
	path := "/api/v1/destinations/" + d.ID
	// PATCH without it keeps it; with it replaces the whole set; {} clears.
	for _, step := range []struct {
		body string
		want map[string]string
	}{
		{`{"name": "Renamed"}`, map[string]string{"app-id": "my-app", "source": "outpost"}},
		{`{"config": {"delivery_metadata": {"region": "eu"}}}`, map[string]string{"region": "eu"}},
		{`{"config": {"delivery_metadata": {}}}`, map[string]string{}},
	} {
		resp, out := e.apiRequest(t, http.MethodPatch, path, token, step.body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("patch %s: %d %s", step.body, resp.StatusCode, out)
		}
		if got := mustDestinationJSON(t, out).Config.DeliveryMetadata; !reflect.DeepEqual(got, step.want) {
			t.Errorf("after %s: got %v, want %v", step.body, got, step.want)
		}
	}
	resp, out = e.apiRequest(t, http.MethodPatch, path, token, `{"config": {"delivery_metadata": {"bad name": "x"}}}`)
	if got := mustAPIError(t, out); resp.StatusCode != http.StatusBadRequest || got.Error.Field != "config.delivery_metadata" {
		t.Errorf("patch with a bad name: %d %+v, want 400 on config.delivery_metadata", resp.StatusCode, got.Error)
	}
}

// The wizard's bucket step edits delivery metadata as name=value lines.
func TestDashboardWizardDeliveryMetadata(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	d := &store.Destination{Name: "Kept", Config: store.DestinationConfig{Bucket: "kept-bucket", Region: "eu-west-1", Auth: store.AuthDefault}}
	if err := e.DB.CreateDestination(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	form := func(md string) url.Values {
		return url.Values{"bucket": {"kept-bucket"}, "region": {"eu-west-1"}, "storage_class": {"STANDARD"}, "delivery_metadata": {md}}
	}
	for _, bad := range []string{"team analytics", "team=analytics\nteam=other", "=x", "team=\u00e9"} {
		resp, doc := wizardPost(t, c, "/destinations/"+d.ID+"/bucket", form(bad))
		msg := doc.Find(`[data-testid="delivery_metadata-error"]`)
		if resp.StatusCode != http.StatusUnprocessableEntity || strings.TrimSpace(msg.Text()) == "" {
			t.Errorf("%q: status %d, error %q; want 422 with a message next to the field", bad, resp.StatusCode, msg.Text())
		}
		if got := doc.Find("#delivery_metadata").AttrOr("aria-invalid", ""); got != "true" {
			t.Errorf("%q: aria-invalid %q, want true", bad, got)
		}
	}
	resp, _ := wizardPost(t, c, "/destinations/"+d.ID+"/bucket", form("Team = analytics\n\nenv=prod\n"))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: status %d", resp.StatusCode)
	}
	got, err := e.DB.DestinationByID(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"team": "analytics", "env": "prod"}; !reflect.DeepEqual(got.Config.DeliveryMetadata, want) {
		t.Errorf("stored: got %v, want %v", got.Config.DeliveryMetadata, want)
	}
	_, page := c.get("/destinations/" + d.ID + "/bucket")
	doc := mustDoc(t, page)
	if text := doc.Find("#delivery_metadata").Text(); text != "env=prod\nteam=analytics" {
		t.Errorf("field: got %q, want the stored lines", text)
	}
	if doc.Find(`label[for="delivery_metadata"]`).Length() != 1 {
		t.Error("the field has no label")
	}
}
