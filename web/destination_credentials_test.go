package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

// TestConnectionTestSaysServerHasNoCredentials runs the connection test of a
// role and a server-credentials destination on a server without AWS
// credentials, whose instance metadata service refuses (403, as off EC2) or
// is turned off: the test says so in plain words, shows the SDK's error
// once, and never calls it "Forbidden".
func TestConnectionTestSaysServerHasNoCredentials(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Forbidden", http.StatusForbidden)
	}))
	defer imds.Close()
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	role := &store.Destination{Name: "Role", Config: store.DestinationConfig{Bucket: "my-events", Region: "us-east-1", Auth: store.AuthRole, RoleARN: testRoleARN}}
	own := &store.Destination{Name: "Own", Config: store.DestinationConfig{Bucket: "my-events", Region: "us-east-1", Auth: store.AuthDefault}}
	for _, d := range []*store.Destination{role, own} {
		if err := e.DB.CreateDestination(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		disabled string
		d        *store.Destination
		want     string
	}{
		{"role, metadata refuses", "false", role, "This server has no AWS credentials, so it cannot assume " + testRoleARN + ". Give it credentials (AWS_PROFILE, an instance/task/pod role) or choose Access keys."},
		{"role, metadata off", "true", role, "This server has no AWS credentials, so it cannot assume " + testRoleARN},
		{"own, metadata refuses", "false", own, "This server has no AWS credentials of its own. Give it credentials (AWS_PROFILE, an instance/task/pod role"},
		{"own, metadata off", "true", own, "This server has no AWS credentials of its own."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_EC2_METADATA_DISABLED", tt.disabled)
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
			_, body := postAndFollow(t, c, "/destinations/"+tt.d.ID+"/test", url.Values{})
			step := mustDoc(t, body).Find(`[data-testid="test-step"]`).First()
			if got := step.AttrOr("data-code", ""); got != "NoCredentials" {
				t.Errorf("code = %q, want NoCredentials", got)
			}
			hint := step.Find(`[data-testid="test-step-hint"]`).Text()
			if !strings.Contains(hint, tt.want) {
				t.Errorf("hint = %q, want %q", hint, tt.want)
			}
			text := step.Text()
			if strings.Contains(text, "Forbidden") || strings.Count(text, "no EC2 IMDS role found") != 1 {
				t.Errorf("step %q: want the raw error once and no Forbidden", strings.Join(strings.Fields(text), " "))
			}
		})
	}
}
