package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// TestBucketStepTakesPastedURLsAndHasNoPlaceholders pastes what the AWS
// console copies into AWS Bucket Name: an S3 URL or a bucket ARN becomes the
// bucket and its Path Prefix, with a note. The wizard's fields show examples
// as "e.g." hints, never as placeholders that look filled in.
func TestBucketStepTakesPastedURLsAndHasNoPlaceholders(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	d := &store.Destination{Name: "Paste", Config: store.DestinationConfig{Bucket: "old-bucket", Region: "eu-west-1", Auth: store.AuthKeys},
		Credentials: store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "s"}}
	if err := e.DB.CreateDestination(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		paste, prefix, wantBucket, wantPrefix string
	}{
		{"s3://my-events/some/prefix/", "", "my-events", "some/prefix/"},
		{"s3://my-events/some/prefix", "", "my-events", "some/prefix/"},
		{"s3://my-events", "", "my-events", ""},
		{"arn:aws:s3:::my-events", "", "my-events", ""},
		{"arn:aws:s3:::my-events/raw", "", "my-events", "raw/"},
		{"s3://my-events/other/", "kept/", "my-events", "kept/"},
	}
	for _, tt := range tests {
		_, body := c.get("/destinations/" + d.ID + "/bucket")
		form := formOf(mustDoc(t, body))
		form.Set("bucket", tt.paste)
		form.Set("path_prefix", tt.prefix)
		resp, _ := c.post("/destinations/"+d.ID+"/bucket", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: status %d, want 303", tt.paste, resp.StatusCode)
			continue
		}
		_, body = c.follow(resp)
		if flash := mustDoc(t, body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "as bucket "+tt.wantBucket) {
			t.Errorf("%s: flash %q, want a note on how it was read", tt.paste, flash)
		}
		got, err := e.DB.DestinationByID(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config.Bucket != tt.wantBucket || got.Config.PathPrefix != tt.wantPrefix {
			t.Errorf("%s: bucket %q prefix %q, want %q %q", tt.paste, got.Config.Bucket, got.Config.PathPrefix, tt.wantBucket, tt.wantPrefix)
		}
	}

	for _, step := range []string{"name", "bucket", "access"} {
		_, body := c.get("/destinations/new/" + step)
		doc := mustDoc(t, body)
		if n := doc.Find(`form[data-testid="wizard-form"] [placeholder]`).Length(); n != 0 {
			t.Errorf("step %s: %d fields with a placeholder, want e.g. hints instead", step, n)
		}
		if !strings.Contains(doc.Find(`form[data-testid="wizard-form"]`).Text(), "e.g.") {
			t.Errorf("step %s: no e.g. hint", step)
		}
	}
	_, body := c.get("/destinations/new/access")
	if hint := mustDoc(t, body).Find(`[data-testid="access-keys"]`).Text(); !strings.Contains(hint, "e.g. AKIAIOSFODNN7EXAMPLE") {
		t.Errorf("Access Key ID has no e.g. hint: %q", strings.Join(strings.Fields(hint), " "))
	}
}

// TestWizardBackAfterCreateOpensTheStoredDestination: once the access step
// created the destination, Back to the new-destination steps opens that
// destination's own steps instead of a second, blank draft; starting a new
// destination clears the draft.
func TestWizardBackAfterCreateOpensTheStoredDestination(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	form := map[string][]string{"name": {"Created"}, "bucket": {"my-events"}, "region": {"eu-west-1"}, "auth": {"keys"},
		"key": {"AKIAIOSFODNN7EXAMPLE"}, "secret": {"s"}}
	resp, body := c.post("/destinations/new/access", withCSRF(c, form))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: status %d\n%s", resp.StatusCode, body)
	}
	id := strings.Split(resp.Header.Get("Location"), "/")[2]
	resp, _ = c.get("/destinations/new/access")
	if got, want := resp.Header.Get("Location"), "/destinations/"+id+"/access"; resp.StatusCode != http.StatusSeeOther || got != want {
		t.Errorf("Back to the access step after create: status %d to %q, want 303 to %q", resp.StatusCode, got, want)
	}
	c.get("/destinations/new")
	resp, body = c.get("/destinations/new/name")
	if resp.StatusCode != http.StatusOK || mustDoc(t, body).Find("#name").AttrOr("value", "") != "" {
		t.Errorf("a new destination after create: status %d, name %q; want a blank first step", resp.StatusCode, mustDoc(t, body).Find("#name").AttrOr("value", ""))
	}
}
