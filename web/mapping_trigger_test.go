package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// TestMappingAPIEmptyTrigger: an empty trigger is refused on trigger rather
// than silently replaced by the default; leaving the field out of a POST
// still gives the default.
func TestMappingAPIEmptyTrigger(t *testing.T) {
	r := mustMappingRig(t, false)
	existing := r.mustCreateMapping(t, `{"name": "base", "trigger": "event = \"x\""}`)
	tests := []struct{ name, method, body string }{
		{"post empty", http.MethodPost, `{"name": "x", "trigger": ""}`},
		{"post blank", http.MethodPost, `{"name": "x", "trigger": " \n\t"}`},
		{"patch empty", http.MethodPatch, `{"trigger": ""}`},
		{"patch blank", http.MethodPatch, `{"name": "renamed", "trigger": "  "}`},
	}
	for _, tt := range tests {
		path := ""
		if tt.method == http.MethodPatch {
			path = "/" + existing.ID
		}
		resp, body := r.api(t, tt.method, path, tt.body)
		got := mustAPIError(t, body)
		if resp.StatusCode != http.StatusBadRequest || got.Error.Code != "invalid" || got.Error.Field != "trigger" ||
			!strings.Contains(got.Error.Message, "Trigger is required") {
			t.Errorf("%s: %d %+v, want 400 invalid on trigger saying it is required", tt.name, resp.StatusCode, got.Error)
		}
	}
	resp, body := r.api(t, http.MethodGet, "/"+existing.ID, "")
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK || got.Trigger != `event = "x"` || got.Name != "base" {
		t.Errorf("after the refused PATCHes: %d %+v, want it unchanged", resp.StatusCode, got)
	}
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != 1 {
		t.Errorf("%d mappings stored, want only the first", len(ms))
	}
	if m := r.mustCreateMapping(t, `{"name": "defaults"}`); m.Trigger != store.DefaultTrigger {
		t.Errorf("POST without a trigger = %q, want the default %q", m.Trigger, store.DefaultTrigger)
	}
}

// warningJSON is one of a mapping answer's warnings.
type warningJSON struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// mappingWarnings decodes the warnings of a mapping answer, and whether the
// field was there at all.
func mappingWarnings(tb testing.TB, body string) ([]warningJSON, bool) {
	tb.Helper()
	var m struct {
		Warnings *[]warningJSON `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatalf("body %q: %v", body, err)
	}
	if m.Warnings == nil {
		return nil, false
	}
	return *m.Warnings, true
}

// TestMappingAPITriggerWarnings: a trigger that compares a field with a
// quoted number or boolean, whose meaning changed when triggers began to
// compare by type, is answered with a warning on trigger, in every mapping
// answer; other mappings have no warnings field.
func TestMappingAPITriggerWarnings(t *testing.T) {
	r := mustMappingRig(t, false)
	plain := r.mustCreateMapping(t, `{"name": "plain", "trigger": "properties.total = 100 and properties.vip = true and userId = \"123\""}`)
	resp, body := r.api(t, http.MethodGet, "/"+plain.ID, "")
	if w, ok := mappingWarnings(t, body); resp.StatusCode != http.StatusOK || ok {
		t.Errorf("unquoted trigger: warnings %v (present %v), want no warnings field", w, ok)
	}

	resp, body = r.api(t, http.MethodPost, "", `{"name": "quoted", "trigger": "properties.total = \"100\" or traits.vip != 'true'"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	check := func(what, body string) {
		t.Helper()
		w, _ := mappingWarnings(t, body)
		if len(w) != 2 || w[0].Field != "trigger" || w[1].Field != "trigger" ||
			!strings.Contains(w[0].Message, `properties.total = "100" compares with the string "100" and no longer matches the number 100`) ||
			!strings.Contains(w[0].Message, "write properties.total = 100") ||
			!strings.Contains(w[1].Message, `traits.vip != "true"`) || !strings.Contains(w[1].Message, "now also matches the boolean true") {
			t.Errorf("%s: warnings %+v, want one per quoted condition on trigger", what, w)
		}
	}
	check("POST", body)
	_, body = r.api(t, http.MethodGet, "/"+created.ID, "")
	check("GET", body)
	_, body = r.api(t, http.MethodGet, "", "")
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 2 {
		t.Fatalf("list %s: %v", body, err)
	}
	check("list", string(list.Data[1]))
	resp, body = r.api(t, http.MethodPatch, "/"+created.ID, `{"trigger": "properties.total = 100"}`)
	if w, ok := mappingWarnings(t, body); resp.StatusCode != http.StatusOK || ok {
		t.Errorf("PATCH to an unquoted number: %d warnings %v, want none", resp.StatusCode, w)
	}
}

// TestMappingEditorTriggerWarnings: the editor shows the same warnings next
// to the trigger, for a stored trigger and as the user types.
func TestMappingEditorTriggerWarnings(t *testing.T) {
	r := mustMappingRig(t, false)
	m := &store.Mapping{DestinationID: r.Dest.ID, Name: "old", Enabled: true, Format: store.FormatJSONL,
		Trigger: `type = "track" and properties.vip = "true"`}
	m.ApplyDefaults()
	if err := r.DB.CreateMapping(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	c := r.mustSignedIn(t)
	resp, body := c.get(r.mappingsPage() + "/" + m.ID)
	doc := mustDoc(t, body)
	warnings := doc.Find(`#trigger-status [data-testid="trigger-warning"]`)
	if resp.StatusCode != http.StatusOK || warnings.Length() != 1 ||
		!strings.Contains(warnings.Text(), `properties.vip = "true" compares with the string "true" and no longer matches the boolean true`) {
		t.Errorf("editor of a stored quoted trigger: %d, warnings %q", resp.StatusCode, warnings.Text())
	}

	form := editorForm(t, c, r.mappingsPage()+"/"+m.ID)
	form.Set("trigger", `properties.vip = true`)
	resp, body = c.post(r.mappingsPage()+"/live", form)
	if got := mustDoc(t, body).Find(`[data-testid="trigger-warning"]`).Length(); resp.StatusCode != http.StatusOK || got != 0 {
		t.Errorf("live with an unquoted boolean: %d, %d warnings, want none", resp.StatusCode, got)
	}
	form.Set("trigger", `properties.a = "1" and properties.b = "false"`)
	_, body = c.post(r.mappingsPage()+"/live", form)
	if got := mustDoc(t, body).Find(`[data-testid="trigger-warning"]`).Length(); got != 2 {
		t.Errorf("live with two quoted values: %d warnings, want 2", got)
	}

	resp, body = c.get(r.mappingsPage() + "/new")
	if got := mustDoc(t, body).Find(`[data-testid="trigger-warning"]`).Length(); resp.StatusCode != http.StatusOK || got != 0 {
		t.Errorf("new mapping form: %d warnings, want none", got)
	}
}

// TestMappingEditorEmptyTrigger: saving the editor with an empty trigger
// re-renders it with 422 and the message next to the trigger, and stores
// nothing; the new mapping form is prefilled with the default.
func TestMappingEditorEmptyTrigger(t *testing.T) {
	r := mustMappingRig(t, false)
	c := r.mustSignedIn(t)
	form := editorForm(t, c, r.mappingsPage()+"/new")
	if got := form.Get("trigger"); got != store.DefaultTrigger {
		t.Errorf("new mapping form trigger = %q, want the default %q", got, store.DefaultTrigger)
	}
	form.Set("name", "Empty")
	for _, trigger := range []string{"", "  \n"} {
		form.Set("trigger", trigger)
		for _, name := range []string{"cond_field", "cond_op", "cond_value"} {
			form.Del(name)
		}
		resp, body := c.post(r.mappingsPage(), form)
		doc := mustDoc(t, body)
		if msg := doc.Find(`#trigger-status [data-testid="trigger-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity ||
			!strings.Contains(msg, "Trigger is required") {
			t.Errorf("save with trigger %q: %d, trigger error %q, want 422 saying it is required", trigger, resp.StatusCode, msg)
		}
		if got := values(doc, "trigger"); !slices.Equal(got, []string{trigger}) {
			t.Errorf("re-rendered trigger %q, want %q kept", got, trigger)
		}
	}
	if ms, _ := r.DB.ListMappings(context.Background(), r.Dest.ID); len(ms) != 0 {
		t.Errorf("%d mappings stored, want none", len(ms))
	}
}
