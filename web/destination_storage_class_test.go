package web_test

import (
	"net/http"
	"strings"
	"testing"
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
