package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/store"
)

// Storage classes match in any case; the API stores and answers S3's
// upper-case name, and refuses an unknown class listing the valid ones.
func TestAPIDestinationStorageClassAnyCase(t *testing.T) {
	e := MustEnv(t)
	token := e.mustToken(t)
	body := func(class string) string {
		return `{"name": "Warehouse", "config": {"bucket": "my-events", "region": "us-east-1", "auth": "role",
			"role_arn": "` + testRoleARN + `", "storage_class": "` + class + `"}}`
	}
	resp, out := e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, body("standard_ia"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST standard_ia: %d %s, want 201", resp.StatusCode, out)
	}
	d := mustDestinationJSON(t, out)
	if d.Config.StorageClass != "STANDARD_IA" {
		t.Errorf("created storage_class = %q, want STANDARD_IA", d.Config.StorageClass)
	}
	_, out = e.apiRequest(t, http.MethodGet, "/api/v1/destinations/"+d.ID, token, "")
	if got := mustDestinationJSON(t, out).Config.StorageClass; got != "STANDARD_IA" {
		t.Errorf("GET storage_class = %q, want STANDARD_IA", got)
	}
	resp, out = e.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+d.ID, token, `{"config": {"storage_class": "Express_OneZone"}}`)
	if got := mustDestinationJSON(t, out).Config.StorageClass; resp.StatusCode != http.StatusOK || got != "EXPRESS_ONEZONE" {
		t.Errorf("PATCH Express_OneZone: %d storage_class %q, want 200 EXPRESS_ONEZONE", resp.StatusCode, got)
	}
	if stored, err := e.DB.DestinationByID(t.Context(), d.ID); err != nil || stored.Config.StorageClass != "EXPRESS_ONEZONE" {
		t.Errorf("stored storage class %q (%v), want EXPRESS_ONEZONE", stored.Config.StorageClass, err)
	}

	resp, out = e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, body("cold"))
	got := mustAPIError(t, out).Error
	if resp.StatusCode != http.StatusBadRequest || got.Code != "invalid" || got.Field != "config.storage_class" {
		t.Fatalf("POST cold: %d %+v, want 400 invalid on config.storage_class", resp.StatusCode, got)
	}
	for _, sc := range []string{"STANDARD", "STANDARD_IA", "GLACIER_IR", "EXPRESS_ONEZONE"} {
		if !strings.Contains(got.Message, sc) {
			t.Errorf("message %q does not list %s", got.Message, sc)
		}
	}
}

// The wizard's select offers every class, the contract's first, and shows
// a stored class that is not among the contract's as chosen.
func TestDashboardWizardStorageClassSelect(t *testing.T) {
	e := MustEnv(t)
	d := &store.Destination{Name: "Warehouse", Config: store.DestinationConfig{Bucket: "my-events", Region: "us-east-1",
		Auth: store.AuthRole, RoleARN: testRoleARN, StorageClass: "express_onezone"}}
	if err := e.DB.CreateDestination(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	resp, body := c.get("/destinations/" + d.ID + "/bucket")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bucket step: %d", resp.StatusCode)
	}
	doc := mustDoc(t, body)
	sel := doc.Find("select#storage_class")
	if got := sel.Find("option[selected]").AttrOr("value", ""); got != "EXPRESS_ONEZONE" {
		t.Errorf("selected storage class = %q, want EXPRESS_ONEZONE", got)
	}
	opts := sel.Find("option").Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("value", "") })
	if len(opts) < len(store.StorageClasses) || !slices.Equal(opts[:len(store.StorageClasses)], store.StorageClasses) {
		t.Errorf("options = %v, want the contract's classes first", opts)
	}
	if label := strings.TrimSpace(doc.Find(`label[for="storage_class"]`).Text()); label != "Storage Class" {
		t.Errorf("label = %q, want Storage Class", label)
	}
}
