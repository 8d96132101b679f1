package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/store"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Column transforms in the API: normalize and hash on each column object,
// beside the older transform, which keeps working; the preview writes them.
func TestMappingAPIColumnTransforms(t *testing.T) {
	r := mustMappingRig(t, false)
	digest := strings.ToUpper(sha256Hex("x"))
	cols := `[{"name": "email", "value": "$.context.traits.email", "normalize": "lowercase_trim", "hash": "sha256"},
		{"name": "event", "value": "$.event", "normalize": "lowercase"},
		{"name": "user", "value": "$.userId", "transform": "sha256"},
		{"name": "hashed", "value": "$.properties.hashed", "hash": "sha256"},
		{"name": "plain", "value": "$.properties.plain", "normalize": "none", "hash": "none"}]`
	created := r.mustCreateMapping(t, `{"name": "transforms", "audience_action_column_name": "", "batch_size_column_name": "", "columns": `+cols+`}`)
	want := []store.Column{
		{Name: "email", Value: "$.context.traits.email", Normalize: "lowercase_trim", Hash: "sha256"},
		{Name: "event", Value: "$.event", Normalize: "lowercase"},
		{Name: "user", Value: "$.userId", Transform: "sha256"},
		{Name: "hashed", Value: "$.properties.hashed", Hash: "sha256"},
		{Name: "plain", Value: "$.properties.plain", Normalize: "none", Hash: "none"},
	}
	if !reflect.DeepEqual(created.Columns, want) {
		t.Errorf("created columns = %+v, want %+v", created.Columns, want)
	}
	resp, body := r.api(t, http.MethodGet, "/"+created.ID, "")
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK || !reflect.DeepEqual(got.Columns, want) {
		t.Errorf("GET columns = %d %+v, want %+v", resp.StatusCode, got.Columns, want)
	}
	// Columns left without a transform answer no transform fields, as before.
	var raw struct{ Columns []map[string]any }
	json.Unmarshal([]byte(body), &raw)
	if _, ok := raw.Columns[1]["hash"]; ok {
		t.Errorf("a column without a hash answers %v, want no hash field", raw.Columns[1])
	}

	event := `{"type": "track", "event": "Order COMPLETED", "userId": "u1", "context": {"traits": {"email": "  Ada@Example.COM\u00a0"}},
		"properties": {"hashed": "` + digest + `", "plain": " As Is "}}`
	p := r.mustPreview(t, created.ID, `{"events": [`+event+`]}`)
	if len(p.Objects) != 1 {
		t.Fatalf("preview: %d objects, want 1", len(p.Objects))
	}
	wantBody := "email,event,user,hashed,plain\n" + `"` + sha256Hex("ada@example.com") + `","order completed","` + sha256Hex("u1") + `","` + digest + `"," As Is "`
	if p.Objects[0].Body != wantBody {
		t.Errorf("preview body =\n%s\nwant\n%s", p.Objects[0].Body, wantBody)
	}

	// PATCH replaces the columns; an older transform can become the new form.
	resp, body = r.api(t, http.MethodPatch, "/"+created.ID, `{"columns": [{"name": "user", "value": "$.userId", "normalize": "trim", "hash": "sha256"}]}`)
	if got := mustMappingJSON(t, body); resp.StatusCode != http.StatusOK ||
		!reflect.DeepEqual(got.Columns, []store.Column{{Name: "user", Value: "$.userId", Normalize: "trim", Hash: "sha256"}}) {
		t.Errorf("PATCH = %d %+v", resp.StatusCode, got.Columns)
	}
	stored, err := r.DB.MappingByID(context.Background(), r.Dest.ID, created.ID)
	if err != nil || len(stored.Columns) != 1 || stored.Columns[0].Normalize != "trim" || stored.Columns[0].Hash != "sha256" {
		t.Errorf("stored after PATCH: %+v (%v)", stored, err)
	}
}

// The editor shows a select for normalize and one for hash per column,
// labelled; a stored older transform shows as its normalize and hash; an
// unchanged form saves the same transforms.
func TestMappingEditorColumnTransforms(t *testing.T) {
	r := mustMappingRig(t, false)
	m := r.mustCreateMapping(t, `{"name": "transforms", "columns": [
		{"name": "email", "value": "$.context.traits.email", "normalize": "lowercase_trim", "hash": "sha256"},
		{"name": "user", "value": "$.userId", "transform": "sha256"},
		{"name": "event", "value": "$.event", "transform": "normalize"},
		{"name": "plain", "value": "$.type"}]}`)
	c := r.mustSignedIn(t)
	editPage := r.mappingsPage() + "/" + m.ID
	_, body := c.get(editPage)
	doc := mustDoc(t, body)
	checkLabels(t, editPage, doc)
	if got := values(doc, "col_normalize"); !slices.Equal(got, []string{"lowercase_trim", "none", "lowercase_trim", "none"}) {
		t.Errorf("normalize selects = %v", got)
	}
	if got := values(doc, "col_hash"); !slices.Equal(got, []string{"sha256", "sha256", "none", "none"}) {
		t.Errorf("hash selects = %v", got)
	}
	for id, label := range map[string]string{"col-normalize-0": "Column 1 normalize", "col-hash-0": "Column 1 hash"} {
		if got := strings.TrimSpace(doc.Find(`label[for="` + id + `"]`).Text()); got != label {
			t.Errorf("label of %s = %q, want %q", id, got, label)
		}
	}
	if got := doc.Find(`#col-hash-0 option`).Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("value", "") }); !slices.Equal(got, []string{"none", "sha256"}) {
		t.Errorf("hash options = %v", got)
	}
	if got := doc.Find(`#col-normalize-0 option`).Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("value", "") }); !slices.Equal(got, []string{"none", "lowercase", "trim", "lowercase_trim"}) {
		t.Errorf("normalize options = %v", got)
	}

	form := editorForm(t, c, editPage)
	resp, _ := c.post(editPage, form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save unchanged: %d, want 303", resp.StatusCode)
	}
	got, err := r.DB.MappingByID(context.Background(), r.Dest.ID, m.ID)
	want := []store.Column{
		{Name: "email", Value: "$.context.traits.email", Normalize: "lowercase_trim", Hash: "sha256"},
		{Name: "user", Value: "$.userId", Hash: "sha256"},
		{Name: "event", Value: "$.event", Normalize: "lowercase_trim"},
		{Name: "plain", Value: "$.type"},
	}
	if err != nil || !reflect.DeepEqual(got.Columns, want) {
		t.Errorf("saved columns = %+v (%v), want %+v", got.Columns, err, want)
	}

	form["col_hash"][3] = "sha256"
	form["col_normalize"][3] = "trim"
	if resp, _ := c.post(editPage, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save a new transform: %d, want 303", resp.StatusCode)
	}
	got, _ = r.DB.MappingByID(context.Background(), r.Dest.ID, m.ID)
	if c := got.Columns[3]; c.Normalize != "trim" || c.Hash != "sha256" {
		t.Errorf("column 4 = %+v, want trim and sha256", c)
	}

	// A script that posts the older single select gets the same columns.
	legacy := url.Values{}
	for k, v := range form {
		legacy[k] = v
	}
	legacy.Del("col_normalize")
	legacy.Del("col_hash")
	legacy["col_transform"] = []string{"normalize", "sha256", "", ""}
	if resp, _ := c.post(editPage, legacy); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save with col_transform: %d, want 303", resp.StatusCode)
	}
	got, _ = r.DB.MappingByID(context.Background(), r.Dest.ID, m.ID)
	if c0, c1 := got.Columns[0], got.Columns[1]; c0.Normalize != "lowercase_trim" || c0.Hash != "" || c1.Normalize != "" || c1.Hash != "sha256" || got.Columns[3].Hash != "" {
		t.Errorf("columns saved from col_transform = %+v", got.Columns)
	}

	form["col_normalize"][1] = "upper"
	resp, body = c.post(editPage, form)
	doc = mustDoc(t, body)
	if msg := doc.Find(`[data-testid="col-normalize-1-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "Column 2 normalize") {
		t.Errorf("unknown normalize: %d, message %q; want 422 next to the select", resp.StatusCode, msg)
	}
	form["col_normalize"][1] = "none"
	form["col_name"][0] = "e,mail"
	resp, body = c.post(editPage, form)
	doc = mustDoc(t, body)
	if msg := doc.Find(`[data-testid="col-name-0-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(msg, "cannot contain the delimiter ','") || !strings.Contains(msg, "rename the column") {
		t.Errorf("delimiter in a name: %d, message %q; want 422 saying why", resp.StatusCode, msg)
	}
}
