package web_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store"
)

const (
	testBucket  = "events"
	testRoleARN = "arn:aws:iam::123456789012:role/s3relay-writer"
)

// responseLog keeps the body of every response the server sends, so tests
// can check what never leaves it.
type responseLog struct {
	mu     sync.Mutex
	bodies []string
}

func (l *responseLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		l.mu.Lock()
		l.bodies = append(l.bodies, r.Method+" "+r.URL.Path+"\n"+rec.body.String())
		l.mu.Unlock()
	})
}

// mustNotContain fails the test when a response body contained s, and
// checks that responses were recorded at all.
func (l *responseLog) mustNotContain(tb testing.TB, s string, minResponses int) {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bodies) < minResponses {
		tb.Fatalf("recorded %d responses, want at least %d", len(l.bodies), minResponses)
	}
	for _, b := range l.bodies {
		if strings.Contains(b, s) {
			first, _, _ := strings.Cut(b, "\n")
			tb.Errorf("the response to %s contains the secret %q", first, s)
		}
	}
}

// mustContain fails the test unless some response contained s: it shows
// that the log sees what the server sends.
func (l *responseLog) mustContain(tb testing.TB, s string) {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bodies {
		if strings.Contains(b, s) {
			return
		}
	}
	tb.Errorf("no response contains %q", s)
}

type recordingWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// destRig is a server with a MinIO bucket to write to, an API token and a
// log of every response.
type destRig struct {
	*env
	MinIO     *miniotest.Server
	Token     string
	Responses *responseLog
}

// MustDestRig starts MinIO with the test bucket and a server, keeping the
// machine's own AWS settings out of the test.
func MustDestRig(tb testing.TB) *destRig {
	tb.Helper()
	miniotest.IsolateAWSEnv(tb)
	mi := miniotest.Start(tb)
	mi.MustCreateBucket(tb, testBucket)
	log := &responseLog{}
	e := MustEnv(tb, envOptions{wrap: log.wrap})
	return &destRig{env: e, MinIO: mi, Token: e.mustToken(tb), Responses: log}
}

// keysBody is the API body of a keys-mode destination on the rig's MinIO.
func (r *destRig) keysBody(edit func(cfg, creds map[string]any)) string {
	cfg := map[string]any{
		"bucket": testBucket, "region": r.MinIO.Region, "auth": "keys", "endpoint": r.MinIO.Endpoint,
		"force_path_style": true, "path_prefix": "raw/",
	}
	creds := map[string]any{"key": r.MinIO.AccessKey, "secret": r.MinIO.SecretKey}
	if edit != nil {
		edit(cfg, creds)
	}
	b, _ := json.Marshal(map[string]any{"name": "MinIO raw", "config": cfg, "credentials": creds})
	return string(b)
}

// destinationJSON is a destination as CONTRACT §4 shows it.
type destinationJSON struct {
	ID          string                  `json:"id"`
	Name        string                  `json:"name"`
	Type        string                  `json:"type"`
	Enabled     bool                    `json:"enabled"`
	SourceIDs   []string                `json:"source_ids"`
	Config      store.DestinationConfig `json:"config"`
	Credentials map[string]string       `json:"credentials"`
	Health      string                  `json:"health"`
	LastTest    *testResultJSON         `json:"last_test"`
}

type testResultJSON struct {
	OK    bool `json:"ok"`
	Steps []struct {
		Name    string `json:"name"`
		OK      bool   `json:"ok"`
		Warning bool   `json:"warning"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Hint    string `json:"hint"`
	} `json:"steps"`
}

func mustDestinationJSON(tb testing.TB, body string) destinationJSON {
	tb.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		tb.Fatalf("body %q: %v", body, err)
	}
	for _, k := range []string{"id", "name", "type", "enabled", "source_ids", "config", "credentials"} {
		if _, ok := fields[k]; !ok {
			tb.Errorf("destination %s lacks %q", body, k)
		}
	}
	var d destinationJSON
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		tb.Fatal(err)
	}
	for _, k := range []string{"external_id", "key", "secret", "session"} {
		if _, ok := d.Credentials[k]; !ok {
			tb.Errorf("credentials %v lack %q", d.Credentials, k)
		}
	}
	for _, k := range []string{"key", "secret", "session"} {
		if d.Credentials[k] != "" {
			tb.Errorf("credentials.%s: got %q, want it never returned", k, d.Credentials[k])
		}
	}
	return d
}

// mustTest runs a destination's connection test through the API.
func (r *destRig) mustTest(tb testing.TB, id string) testResultJSON {
	tb.Helper()
	resp, body := r.apiRequest(tb, http.MethodPost, "/api/v1/destinations/"+id+"/test", r.Token, "")
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("test: status %d, want 200\n%s", resp.StatusCode, body)
	}
	var res testResultJSON
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		tb.Fatalf("test result %q: %v", body, err)
	}
	return res
}

// mustCreate creates a destination through the API.
func (r *destRig) mustCreate(tb testing.TB, body string) destinationJSON {
	tb.Helper()
	resp, out := r.apiRequest(tb, http.MethodPost, "/api/v1/destinations", r.Token, body)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("create: status %d, want 201\n%s", resp.StatusCode, out)
	}
	return mustDestinationJSON(tb, out)
}

// mustNotBeInDataDir fails the test when s is in any file of the database.
func mustNotBeInDataDir(tb testing.TB, dir, s string) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "s3relay.db*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no database files in %s: %v", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			tb.Errorf("%s holds the secret in plain text", filepath.Base(f))
		}
	}
}

func TestAPIDestinationKeysModeLifecycle(t *testing.T) {
	r := MustDestRig(t)
	src := r.mustSource(t, "web")
	created := r.mustCreate(t, r.keysBody(func(cfg, creds map[string]any) { creds["session"] = "" }))
	if created.Type != "aws_s3" || !created.Enabled || created.Config.StorageClass != "STANDARD" || created.Config.Bucket != testBucket {
		t.Errorf("created: got %+v, want an enabled aws_s3 destination with the STANDARD storage class", created)
	}
	if created.Credentials["external_id"] != "" || len(created.SourceIDs) != 0 {
		t.Errorf("created: external_id %q, source_ids %v; want none in keys mode", created.Credentials["external_id"], created.SourceIDs)
	}
	path := "/api/v1/destinations/" + created.ID

	res := r.mustTest(t, created.ID)
	if !res.OK || len(res.Steps) != 3 {
		t.Fatalf("test: got %+v, want ok with three steps", res)
	}
	for i, want := range []string{s3.StepCredentials, s3.StepPut, s3.StepDelete} {
		if st := res.Steps[i]; st.Name != want || !st.OK || st.Warning || st.Code != "" {
			t.Errorf("step %d: got %+v, want %q ok", i, st, want)
		}
	}

	// PATCH changes only what it names; the stored secret stays.
	resp, body := r.apiRequest(t, http.MethodPatch, path, r.Token, `{"name":"Renamed","source_ids":["`+src.ID+`"],"credentials":{"secret":""}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: status %d\n%s", resp.StatusCode, body)
	}
	got := mustDestinationJSON(t, body)
	if got.Name != "Renamed" || len(got.SourceIDs) != 1 || got.SourceIDs[0] != src.ID || !reflect.DeepEqual(got.Config, created.Config) {
		t.Errorf("patched: got %+v, want the new name and source with the config unchanged", got)
	}
	if got.Health != store.HealthHealthy || got.LastTest == nil || !got.LastTest.OK {
		t.Errorf("patched: health %q, last test %+v; want healthy after a passing test", got.Health, got.LastTest)
	}
	if res := r.mustTest(t, created.ID); !res.OK {
		t.Errorf("test after patch: got %+v, want ok with the kept secret", res)
	}

	resp, body = r.apiGet(t, "/api/v1/destinations", r.Token)
	var list struct {
		Data []json.RawMessage `json:"data"`
		Next *string           `json:"next"`
	}
	if err := json.Unmarshal([]byte(body), &list); resp.StatusCode != http.StatusOK || err != nil || len(list.Data) != 1 || list.Next == nil {
		t.Fatalf("list: status %d, %v, body %s", resp.StatusCode, err, body)
	}
	if d := mustDestinationJSON(t, string(list.Data[0])); d.ID != created.ID {
		t.Errorf("list: got %q, want %q", d.ID, created.ID)
	}

	mustNotBeInDataDir(t, r.DataDir, r.MinIO.SecretKey)

	resp, _ = r.apiRequest(t, http.MethodDelete, path, r.Token, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: status %d, want 204", resp.StatusCode)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodPatch} {
		resp, body := r.apiRequest(t, method, path, r.Token, `{}`)
		if resp.StatusCode != http.StatusNotFound || mustAPIError(t, body).Error.Code != "not_found" {
			t.Errorf("%s after delete: status %d %s, want 404 not_found", method, resp.StatusCode, body)
		}
	}
	r.Responses.mustContain(t, `"id":"`+created.ID+`"`)
	r.Responses.mustNotContain(t, r.MinIO.SecretKey, 8)
}

func TestAPIDestinationTestFailsAtTheRightStep(t *testing.T) {
	r := MustDestRig(t)
	tests := []struct {
		name    string
		edit    func(cfg, creds map[string]any)
		code    string
		hintHas []string
	}{
		{"wrong secret", func(_, creds map[string]any) { creds["secret"] = "not-the-secret" }, "SignatureDoesNotMatch", []string{"Secret Access Key"}},
		{"unknown key", func(_, creds map[string]any) { creds["key"] = "AKIAUNKNOWNKEY000000" }, "InvalidAccessKeyId", []string{"Access Key ID", "AKIAUNKNOWNKEY000000"}},
		{"missing bucket", func(cfg, _ map[string]any) { cfg["bucket"] = "no-such-bucket" }, "NoSuchBucket", []string{"no-such-bucket", "AWS Bucket Name"}},
		{"refused storage class", func(cfg, _ map[string]any) { cfg["storage_class"] = "GLACIER" }, "InvalidStorageClass", []string{"GLACIER", "Storage Class"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := r.mustCreate(t, r.keysBody(tt.edit))
			res := r.mustTest(t, d.ID)
			if res.OK || len(res.Steps) != 2 {
				t.Fatalf("got %+v, want a failure at the second step", res)
			}
			if first := res.Steps[0]; first.Name != s3.StepCredentials || !first.OK {
				t.Errorf("first step: got %+v, want %q ok", first, s3.StepCredentials)
			}
			last := res.Steps[1]
			if last.Name != s3.StepPut || last.OK || last.Code != tt.code || last.Message == "" {
				t.Errorf("failing step: got %+v, want %q failed with %q", last, s3.StepPut, tt.code)
			}
			for _, want := range tt.hintHas {
				if !strings.Contains(last.Hint, want) {
					t.Errorf("hint: got %q, want it to contain %q", last.Hint, want)
				}
			}
			// The last test, failed, shows in the API and on the list.
			_, body := r.apiGet(t, "/api/v1/destinations/"+d.ID, r.Token)
			if got := mustDestinationJSON(t, body); got.LastTest == nil || got.LastTest.OK || got.Health == store.HealthHealthy {
				t.Errorf("after the failed test: last test %+v, health %q", got.LastTest, got.Health)
			}
		})
	}
	c := r.client(t)
	c.login(adminEmail, adminPassword)
	_, body := c.get("/destinations")
	rows := mustDoc(t, body).Find(`[data-testid="destination-row"]`)
	if rows.Length() != len(tests) {
		t.Fatalf("list: got %d rows, want %d", rows.Length(), len(tests))
	}
	rows.Each(func(_ int, row *goquery.Selection) {
		last := row.Find(`[data-testid="destination-last-test"]`)
		if !strings.Contains(last.Text(), "failed") || last.Find("time").AttrOr("datetime", "") == "" {
			t.Errorf("list row: last test %q, want failed with its time", strings.TrimSpace(last.Text()))
		}
	})
}

func TestAPIDestinationRoleMode(t *testing.T) {
	r := MustDestRig(t)
	created := r.mustCreate(t, `{"name":"Role","config":{"bucket":"`+testBucket+`","region":"us-east-1","auth":"role",
		"role_arn":"`+testRoleARN+`","endpoint":"`+r.MinIO.Endpoint+`","force_path_style":true}}`)
	externalID := created.Credentials["external_id"]
	if len(externalID) < 32 {
		t.Fatalf("external_id %q: want a generated one of at least 32 characters", externalID)
	}
	front := miniotest.StartSTS(t, r.MinIO, miniotest.STSConfig{RoleARN: testRoleARN, ExternalID: externalID})
	front.Setenv(t)
	path := "/api/v1/destinations/" + created.ID

	res := r.mustTest(t, created.ID)
	if !res.OK || len(res.Steps) != 3 || res.Steps[0].Name != s3.StepAssumeRole || !res.Steps[0].OK {
		t.Fatalf("right external ID: got %+v, want ok, starting with %q", res, s3.StepAssumeRole)
	}

	// The access step trusts the server's own identity and shows the stored external ID.
	c := r.client(t)
	c.login(adminEmail, adminPassword)
	resp, body := c.get("/destinations/" + created.ID + "/access")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("access step: status %d", resp.StatusCode)
	}
	doc := mustDoc(t, body)
	if got := doc.Find(`#external_id`).AttrOr("value", ""); got != externalID {
		t.Errorf("access step external ID: got %q, want the stored %q", got, externalID)
	}
	trust := doc.Find(`[data-testid="trust-policy"]`).Text()
	for _, want := range []string{miniotest.DefaultCallerARN, `"sts:ExternalId": "` + externalID + `"`} {
		if !strings.Contains(trust, want) {
			t.Errorf("trust policy %s lacks %s", trust, want)
		}
	}
	if cli := doc.Find(`[data-testid="cli-script"]`).Text(); !strings.Contains(cli, "--role-name 's3relay-writer'") || !strings.Contains(cli, "arn:aws:s3:::events/*") {
		t.Errorf("CLI commands lack the role or the bucket:\n%s", cli)
	}

	resp, body = r.apiRequest(t, http.MethodPatch, path, r.Token, `{"credentials":{"external_id":"a-wrong-external-id"}}`)
	if got := mustDestinationJSON(t, body); resp.StatusCode != http.StatusOK || got.Credentials["external_id"] != "a-wrong-external-id" {
		t.Fatalf("patch external id: status %d, %s", resp.StatusCode, body)
	}
	res = r.mustTest(t, created.ID)
	if res.OK || len(res.Steps) != 1 {
		t.Fatalf("wrong external ID: got %+v, want a failure at step 1", res)
	}
	if st := res.Steps[0]; st.Name != s3.StepAssumeRole || st.OK || st.Code != "AccessDenied" ||
		!strings.Contains(st.Hint, "trust policy") || !strings.Contains(st.Hint, "a-wrong-external-id") {
		t.Errorf("step 1: got %+v, want AccessDenied with the trust-policy hint naming the external ID", st)
	}
	if front.AssumeRoleCalls() != 2 {
		t.Errorf("AssumeRole calls: got %d, want 2 (each test assumes the role afresh)", front.AssumeRoleCalls())
	}

	// A role that may write but not delete passes with a warning, which the
	// dashboard's in-place test shows with its code and hint.
	limited := miniotest.StartSTS(t, r.MinIO, miniotest.STSConfig{RoleARN: testRoleARN, ExternalID: externalID,
		SessionPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::events/*"]}]}`})
	limited.Setenv(t)
	if resp, body := r.apiRequest(t, http.MethodPatch, path, r.Token, `{"credentials":{"external_id":"`+externalID+`"}}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("patch external id back: status %d, %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, r.HTTP.URL+"/destinations/"+created.ID+"/test", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf("/destinations"))
	hx, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frag := mustDoc(t, readBody(t, hx))
	if frag.Find(`[data-testid="test-summary"][data-ok="true"]`).Length() != 1 {
		t.Errorf("a test whose only problem is the delete should pass")
	}
	steps := frag.Find(`[data-testid="test-step"]`)
	var statuses []string
	steps.Each(func(_ int, s *goquery.Selection) { statuses = append(statuses, s.AttrOr("data-status", "")) })
	if strings.Join(statuses, " ") != "ok ok warning" {
		t.Fatalf("step statuses: got %q, want ok ok warning", statuses)
	}
	warn := steps.Last()
	if warn.AttrOr("data-code", "") != "AccessDenied" || !strings.Contains(warn.Find(`[data-testid="test-step-hint"]`).Text(), "s3:DeleteObject") {
		t.Errorf("warning step: code %q, hint %q", warn.AttrOr("data-code", ""), warn.Find(`[data-testid="test-step-hint"]`).Text())
	}
}

func TestAPIDestinationValidation(t *testing.T) {
	e := MustEnv(t)
	token := e.mustToken(t)
	valid := func(edit func(d, cfg, creds map[string]any)) string {
		cfg := map[string]any{"bucket": "my-events", "region": "us-east-1", "auth": "role", "role_arn": testRoleARN}
		creds := map[string]any{}
		d := map[string]any{"name": "Warehouse", "config": cfg, "credentials": creds}
		edit(d, cfg, creds)
		b, _ := json.Marshal(d)
		return string(b)
	}
	keys := func(cfg, creds map[string]any) {
		cfg["auth"] = "keys"
		delete(cfg, "role_arn")
		creds["key"], creds["secret"] = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	}
	tests := []struct {
		name  string
		edit  func(d, cfg, creds map[string]any)
		field string
	}{
		{"no name", func(d, _, _ map[string]any) { d["name"] = " " }, "name"},
		{"long name", func(d, _, _ map[string]any) { d["name"] = strings.Repeat("n", 101) }, "name"},
		{"wrong type", func(d, _, _ map[string]any) { d["type"] = "gcs" }, "type"},
		{"unknown source", func(d, _, _ map[string]any) { d["source_ids"] = []string{"src_nope"} }, "source_ids"},
		{"name not a string", func(d, _, _ map[string]any) { d["name"] = 5 }, "name"},
		{"read-only id", func(d, _, _ map[string]any) { d["id"] = "dst_x" }, "id"},
		{"unknown field", func(d, _, _ map[string]any) { d["colour"] = "red" }, "colour"},
		{"no bucket", func(_, cfg, _ map[string]any) { delete(cfg, "bucket") }, "config.bucket"},
		{"short bucket", func(_, cfg, _ map[string]any) { cfg["bucket"] = "ab" }, "config.bucket"},
		{"uppercase bucket", func(_, cfg, _ map[string]any) { cfg["bucket"] = "My-Events" }, "config.bucket"},
		{"underscore bucket", func(_, cfg, _ map[string]any) { cfg["bucket"] = "my_events" }, "config.bucket"},
		{"bucket like an IP", func(_, cfg, _ map[string]any) { cfg["bucket"] = "192.168.1.1" }, "config.bucket"},
		{"no region", func(_, cfg, _ map[string]any) { cfg["region"] = "" }, "config.region"},
		{"unknown region", func(_, cfg, _ map[string]any) { cfg["region"] = "us-east-9" }, "config.region"},
		{"bad region with endpoint", func(_, cfg, _ map[string]any) {
			cfg["endpoint"], cfg["region"] = "http://127.0.0.1:9000", "Local Region"
		}, "config.region"},
		{"no auth", func(_, cfg, _ map[string]any) { delete(cfg, "auth") }, "config.auth"},
		{"bad auth", func(_, cfg, _ map[string]any) { cfg["auth"] = "password" }, "config.auth"},
		{"role without ARN", func(_, cfg, _ map[string]any) { delete(cfg, "role_arn") }, "config.role_arn"},
		{"ARN of a user", func(_, cfg, _ map[string]any) { cfg["role_arn"] = "arn:aws:iam::123456789012:user/bob" }, "config.role_arn"},
		{"ARN with keys", func(_, cfg, creds map[string]any) { keys(cfg, creds); cfg["role_arn"] = testRoleARN }, "config.role_arn"},
		{"endpoint not a URL", func(_, cfg, _ map[string]any) { cfg["endpoint"] = "minio:9000" }, "config.endpoint"},
		{"endpoint with path", func(_, cfg, _ map[string]any) { cfg["endpoint"] = "http://host:9000/bucket" }, "config.endpoint"},
		{"own credentials with endpoint", func(_, cfg, _ map[string]any) {
			cfg["auth"], cfg["endpoint"] = "default", "https://storage.example.com"
			delete(cfg, "role_arn")
		}, "config.auth"},
		{"path style not a boolean", func(_, cfg, _ map[string]any) { cfg["force_path_style"] = "yes" }, "config.force_path_style"},
		{"bad storage class", func(_, cfg, _ map[string]any) { cfg["storage_class"] = "COLD" }, "config.storage_class"},
		{"bad sse", func(_, cfg, _ map[string]any) { cfg["server_side_encryption"] = "aes" }, "config.server_side_encryption"},
		{"kms key without kms", func(_, cfg, _ map[string]any) { cfg["kms_key_id"] = "alias/x" }, "config.kms_key_id"},
		{"bad kms key", func(_, cfg, _ map[string]any) {
			cfg["server_side_encryption"], cfg["kms_key_id"] = "aws:kms", "my key"
		}, "config.kms_key_id"},
		{"prefix with leading slash", func(_, cfg, _ map[string]any) { cfg["path_prefix"] = "/events/" }, "config.path_prefix"},
		{"prefix with ..", func(_, cfg, _ map[string]any) { cfg["path_prefix"] = "a/../b/" }, "config.path_prefix"},
		{"bad external ID", func(_, _, creds map[string]any) { creds["external_id"] = "has spaces in it" }, "credentials.external_id"},
		{"keys without key", func(_, cfg, creds map[string]any) { keys(cfg, creds); delete(creds, "key") }, "credentials.key"},
		{"bad access key", func(_, cfg, creds map[string]any) { keys(cfg, creds); creds["key"] = "not a key" }, "credentials.key"},
		{"keys without secret", func(_, cfg, creds map[string]any) { keys(cfg, creds); delete(creds, "secret") }, "credentials.secret"},
		{"secret on two lines", func(_, cfg, creds map[string]any) { keys(cfg, creds); creds["secret"] = "a\nb" }, "credentials.secret"},
		{"session not a string", func(_, cfg, creds map[string]any) { keys(cfg, creds); creds["session"] = 1 }, "credentials.session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, valid(tt.edit))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status: got %d, want 400\n%s", resp.StatusCode, body)
			}
			if got := mustAPIError(t, body).Error; got.Code != "invalid" || got.Field != tt.field {
				t.Errorf("error: got %+v, want invalid on %q", got, tt.field)
			}
		})
	}

	// The valid body passes, and a PATCH is validated the same way and
	// changes nothing when refused.
	resp, body := e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, valid(func(_, _, _ map[string]any) {}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("valid body: status %d\n%s", resp.StatusCode, body)
	}
	d := mustDestinationJSON(t, body)
	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+d.ID, token, `{"config":{"bucket":"Bad_Bucket"}}`)
	if resp.StatusCode != http.StatusBadRequest || mustAPIError(t, body).Error.Field != "config.bucket" {
		t.Errorf("bad patch: status %d %s, want 400 on config.bucket", resp.StatusCode, body)
	}
	// The server's own credentials go with no custom endpoint, whether the
	// patch changes both or adds the endpoint alone.
	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+d.ID, token,
		`{"config":{"auth":"default","role_arn":"","endpoint":"https://storage.example.com"}}`)
	if resp.StatusCode != http.StatusBadRequest || mustAPIError(t, body).Error.Field != "config.auth" {
		t.Errorf("patch to own credentials with an endpoint: status %d %s, want 400 on config.auth", resp.StatusCode, body)
	}
	resp, body = e.apiRequest(t, http.MethodPost, "/api/v1/destinations", token, `{"name":"Own","config":{"bucket":"my-events","region":"us-east-1","auth":"default"}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("own credentials without endpoint: status %d %s", resp.StatusCode, body)
	}
	own := mustDestinationJSON(t, body)
	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+own.ID, token, `{"config":{"endpoint":"http://127.0.0.1:9000"}}`)
	if resp.StatusCode != http.StatusBadRequest || mustAPIError(t, body).Error.Field != "config.auth" {
		t.Errorf("endpoint added to the server's own credentials: status %d %s, want 400 on config.auth", resp.StatusCode, body)
	}
	if got, _ := e.DB.DestinationByID(t.Context(), own.ID); got.Config.Endpoint != "" {
		t.Errorf("endpoint after the refused patch: got %q", got.Config.Endpoint)
	}
	// Switching to keys drops the role ARN the keys mode would refuse.
	resp, body = e.apiRequest(t, http.MethodPatch, "/api/v1/destinations/"+d.ID, token,
		`{"config":{"auth":"keys"},"credentials":{"key":"AKIAIOSFODNN7EXAMPLE","secret":"s3cr3t-value"}}`)
	if got := mustDestinationJSON(t, body); resp.StatusCode != http.StatusOK || got.Config.Bucket != "my-events" || got.Config.RoleARN != "" || got.Config.Auth != "keys" {
		t.Errorf("patch to keys: status %d, got %+v", resp.StatusCode, got)
	}
}

// wizardPost submits a wizard form and returns the response and its document.
// wizardPost submits a wizard step as a browser would, following the
// redirect to a new destination's next step (post/redirect/get).
func wizardPost(tb testing.TB, c *client, path string, form url.Values) (*http.Response, *goquery.Document) {
	tb.Helper()
	form.Set("_csrf", c.csrf("/destinations"))
	resp, body := c.post(path, form)
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/destinations/new/") {
		resp, body = c.get(loc)
	}
	return resp, mustDoc(tb, body)
}

// formOf returns what a rendered form would submit: its inputs' values
// (checked ones for checkboxes and radios) and its selects' chosen options.
func formOf(doc *goquery.Document) url.Values {
	v := url.Values{}
	doc.Find(`form[data-testid="wizard-form"] input`).Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		typ := in.AttrOr("type", "text")
		if name == "" || ((typ == "checkbox" || typ == "radio") && !hasAttr(in, "checked")) {
			return
		}
		v.Add(name, in.AttrOr("value", ""))
	})
	doc.Find(`form[data-testid="wizard-form"] select`).Each(func(_ int, sel *goquery.Selection) {
		v.Set(sel.AttrOr("name", ""), sel.Find("option[selected]").AttrOr("value", ""))
	})
	return v
}

// mustLabels checks that a page labels its fields with CONTRACT §5's words.
func mustLabels(tb testing.TB, doc *goquery.Document, labels ...string) {
	tb.Helper()
	for _, l := range labels {
		found := false
		doc.Find("label[for]").Each(func(_ int, s *goquery.Selection) {
			if strings.TrimSpace(s.Text()) == l && doc.Find("#"+s.AttrOr("for", "")).Length() == 1 {
				found = true
			}
		})
		if !found {
			tb.Errorf("no <label for> %q with its field", l)
		}
	}
}

func TestDashboardWizardKeysMode(t *testing.T) {
	r := MustDestRig(t)
	src := r.mustSource(t, "web")
	c := r.client(t)
	c.login(adminEmail, adminPassword)

	_, body := c.get("/destinations")
	if href := mustDoc(t, body).Find(`[data-testid="empty-state"] a[role="button"]`); strings.TrimSpace(href.Text()) != "New destination" || href.AttrOr("href", "") != "/destinations/new" {
		t.Fatalf("empty list: got %q to %q, want the New destination button", href.Text(), href.AttrOr("href", ""))
	}
	resp, _ := c.get("/destinations/new")
	if got, want := resp.Header.Get("Location"), "/destinations/new/name"; resp.StatusCode != http.StatusSeeOther || got != want {
		t.Fatalf("new destination: status %d to %q, want 303 to %q", resp.StatusCode, got, want)
	}
	_, body = c.get("/destinations/new/name")
	doc := mustDoc(t, body)
	mustLabels(t, doc, "Name", "web")

	// Step 1 refuses a blank name and keeps the chosen source.
	resp, doc = wizardPost(t, c, "/destinations/new/name", url.Values{"name": {" "}, "source_ids": {src.ID}})
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="name-error"]`).Length() != 1 ||
		!hasAttr(doc.Find("#source-"+src.ID), "checked") {
		t.Fatalf("blank name: status %d, want 422 with the error next to Name and the source still checked", resp.StatusCode)
	}
	resp, doc = wizardPost(t, c, "/destinations/new/name", url.Values{"name": {"MinIO raw"}, "source_ids": {src.ID}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("name step: status %d", resp.StatusCode)
	}
	mustLabels(t, doc, "AWS Bucket Name", "AWS Region", "Path Prefix", "Storage Class", "Server Side Encryption", "Endpoint")
	if doc.Find(`#region option[value="eu-central-1"]`).Length() != 1 || doc.Find(`#region option`).Length() != len(store.AWSRegions)+1 {
		t.Errorf("AWS Region: want a select of the %d AWS regions", len(store.AWSRegions))
	}

	// Step 2: a bad bucket name comes back with the message and what was typed.
	form := formOf(doc)
	form.Set("bucket", "Events_Bucket")
	form.Set("region", "us-east-1")
	form.Set("endpoint", r.MinIO.Endpoint)
	form.Set("force_path_style", "true")
	form.Set("path_prefix", "raw/")
	resp, doc = wizardPost(t, c, "/destinations/new/bucket", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="bucket-error"]`).Text(), "lowercase") {
		t.Fatalf("bad bucket: status %d, error %q; want 422 with the naming rule", resp.StatusCode, doc.Find(`[data-testid="bucket-error"]`).Text())
	}
	if got := doc.Find("#endpoint").AttrOr("value", ""); got != r.MinIO.Endpoint || doc.Find("#bucket").AttrOr("value", "") != "Events_Bucket" {
		t.Errorf("after the error: endpoint %q, bucket %q; want what was typed", got, doc.Find("#bucket").AttrOr("value", ""))
	}
	form = formOf(doc)
	form.Set("bucket", testBucket)
	resp, doc = wizardPost(t, c, "/destinations/new/bucket", form)
	if resp.StatusCode != http.StatusOK || doc.Find(`#external_id`).Length() != 1 {
		t.Fatalf("bucket step: status %d, want the access step", resp.StatusCode)
	}
	mustLabels(t, doc, "IAM Role ARN", "IAM External ID", "Access Key ID", "Secret Access Key", "Session Token")
	if perm := doc.Find(`[data-testid="permission-policy"]`).Text(); !strings.Contains(perm, "arn:aws:s3:::events/raw/*") {
		t.Errorf("permission policy lacks the bucket and prefix:\n%s", perm)
	}

	// Step 3: keys without a secret are refused; the secret field stays empty.
	form = formOf(doc)
	form.Set("auth", "keys")
	form.Set("key", r.MinIO.AccessKey)
	resp, doc = wizardPost(t, c, "/destinations/new/access", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="secret-error"]`).Length() != 1 {
		t.Fatalf("keys without secret: status %d, want 422 on the secret", resp.StatusCode)
	}
	if doc.Find("#key").AttrOr("value", "") != r.MinIO.AccessKey || !hasAttr(doc.Find("#auth-keys"), "checked") {
		t.Errorf("after the error: the typed key and mode are lost")
	}
	form = formOf(doc)
	form.Set("secret", r.MinIO.SecretKey)
	resp, body = c.post("/destinations/new/access", withCSRF(c, form))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/test") {
		t.Fatalf("access step: status %d to %q, want 303 to the test step\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	testPath := resp.Header.Get("Location")
	id := strings.Split(testPath, "/")[2]
	stored, err := r.DB.DestinationByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Enabled || stored.WizardStep != "test" || stored.Config.Endpoint != r.MinIO.Endpoint || !stored.Config.ForcePathStyle ||
		stored.Config.PathPrefix != "raw/" || len(stored.SourceIDs) != 1 {
		t.Errorf("stored: got %+v, want it off, at the test step, with the typed settings", stored)
	}

	// The list shows the unfinished setup.
	_, body = c.get("/destinations")
	if got := mustDoc(t, body).Find(`[data-testid="continue-setup"]`).AttrOr("href", ""); got != testPath {
		t.Errorf("continue setup: got %q, want %q", got, testPath)
	}

	// Test connection without JavaScript: a plain POST, then the step shows the result.
	_, body = postAndFollow(t, c, testPath, url.Values{})
	steps := mustDoc(t, body).Find(`[data-testid="test-step"]`)
	if steps.Length() != 3 || steps.Filter(`[data-status="ok"]`).Length() != 3 {
		t.Errorf("test step after a plain POST: got %d steps, %d ok; want 3 ok", steps.Length(), steps.Filter(`[data-status="ok"]`).Length())
	}
	// With htmx: only the result fragment comes back, to be swapped in place.
	req, _ := http.NewRequest(http.MethodPost, r.HTTP.URL+testPath, nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf("/destinations"))
	hx, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, hx)
	if hx.StatusCode != http.StatusOK || strings.Contains(body, "<html") || mustDoc(t, body).Find(`#test-result [data-testid="test-step"][data-status="ok"]`).Length() != 3 {
		t.Errorf("htmx test: status %d, want a fragment with three ok steps:\n%s", hx.StatusCode, body)
	}

	// Editing the access step with blank secrets keeps them.
	resp, body = c.get("/destinations/" + id + "/access")
	doc = mustDoc(t, body)
	if doc.Find(`[data-testid="secret-stored"]`).Length() != 1 || doc.Find("#secret").AttrOr("value", "") != "" || doc.Find("#key").AttrOr("value", "") != "" {
		t.Errorf("edit access: want empty secret and key fields with the stored-value note")
	}
	resp, _ = c.post("/destinations/"+id+"/access", withCSRF(c, formOf(doc)))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("save access unchanged: status %d, want 303", resp.StatusCode)
	}
	_, body = postAndFollow(t, c, testPath, url.Values{})
	if mustDoc(t, body).Find(`[data-testid="test-summary"][data-ok="true"]`).Length() != 1 {
		t.Errorf("test after saving blank secrets: want it to pass with the kept secret")
	}

	// "Continue setup" opens the furthest step reached; going back to an
	// earlier step does not move it back.
	c.get("/destinations/" + id + "/mappings")
	c.get("/destinations/" + id + "/bucket")
	_, body = c.get("/destinations")
	if got, want := mustDoc(t, body).Find(`[data-testid="continue-setup"]`).AttrOr("href", ""), "/destinations/"+id+"/mappings"; got != want {
		t.Errorf("continue setup after the mappings step: got %q, want %q", got, want)
	}

	// Enable, and the list shows it on, tested and healthy.
	resp, body = c.get("/destinations/" + id + "/enable")
	if !hasAttr(mustDoc(t, body).Find("#enabled"), "checked") {
		t.Errorf("enable step: the switch should start on for a new destination")
	}
	_, body = postAndFollow(t, c, "/destinations/"+id+"/enable", url.Values{"enabled": {"true"}})
	row := mustDoc(t, body).Find(`[data-testid="destination-row"]`)
	for sel, want := range map[string]string{
		"destination-name": "MinIO raw", "destination-bucket": "s3://events/raw/", "destination-region": "us-east-1",
		"destination-sources": "web", "destination-last-test": "passed", "destination-health": "healthy", "destination-enabled": "on",
	} {
		if got := strings.TrimSpace(row.Find(`[data-testid="` + sel + `"]`).Text()); !strings.Contains(got, want) {
			t.Errorf("list %s: got %q, want %q", sel, got, want)
		}
	}
	if row.Find(`[data-testid="continue-setup"]`).Length() != 0 {
		t.Errorf("list: setup still shown as unfinished")
	}
	if d, _ := r.DB.DestinationByID(t.Context(), id); !d.Enabled || d.WizardStep != "" {
		t.Errorf("stored after Save: enabled %v, wizard step %q", d.Enabled, d.WizardStep)
	}

	// Every step of the saved destination opens, with a label for every field.
	for _, step := range []string{"name", "bucket", "access", "test", "mappings", "enable"} {
		resp, body := c.get("/destinations/" + id + "/" + step)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET step %s: status %d", step, resp.StatusCode)
			continue
		}
		doc := mustDoc(t, body)
		doc.Find("input, select, textarea").Each(func(_ int, f *goquery.Selection) {
			if f.AttrOr("type", "") == "hidden" {
				return
			}
			if fid := f.AttrOr("id", ""); fid == "" || doc.Find(`label[for="`+fid+`"]`).Length() != 1 {
				t.Errorf("step %s: field %q has no <label for>", step, fid)
			}
		})
		if got := doc.Find(`[aria-current="step"]`).Length(); got != 1 {
			t.Errorf("step %s: %d current steps in the progress bar, want 1", step, got)
		}
	}

	// Turn it off from the list, then delete it after confirming.
	_, body = postAndFollow(t, c, "/destinations/"+id+"/enabled", url.Values{"enabled": {"false"}})
	if got := mustDoc(t, body).Find(`[data-testid="destination-enabled"]`).Text(); got != "off" {
		t.Errorf("after turning off: got %q", got)
	}
	_, body = c.get("/destinations/" + id + "/delete")
	if !strings.Contains(mustDoc(t, body).Find(`[data-testid="delete-confirm"]`).Text(), "MinIO raw") {
		t.Errorf("delete: no confirmation naming the destination")
	}
	_, body = postAndFollow(t, c, "/destinations/"+id+"/delete", url.Values{})
	if mustDoc(t, body).Find(`[data-testid="destination-row"]`).Length() != 0 {
		t.Errorf("after delete: the destination is still listed")
	}
	if _, err := r.DB.DestinationByID(t.Context(), id); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("after delete: got %v, want not found", err)
	}

	mustNotBeInDataDir(t, r.DataDir, r.MinIO.SecretKey)
	r.Responses.mustContain(t, `data-testid="secret-stored"`)
	r.Responses.mustNotContain(t, r.MinIO.SecretKey, 20)
}

// postAndFollow submits a dashboard form and follows its 303.
func postAndFollow(tb testing.TB, c *client, path string, form url.Values) (*http.Response, string) {
	tb.Helper()
	resp, _ := c.post(path, withCSRF(c, form))
	return c.follow(resp)
}

func withCSRF(c *client, form url.Values) url.Values {
	form.Set("_csrf", c.csrf("/destinations"))
	return form
}

func TestDashboardWizardValidatesEachStep(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	named := url.Values{"name": {"Warehouse"}}
	bucket := url.Values{"name": {"Warehouse"}, "bucket": {"my-events"}, "region": {"us-east-1"}, "storage_class": {"STANDARD"}}
	with := func(base url.Values, kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name  string
		step  string
		form  url.Values
		field string
	}{
		{"blank name", "name", url.Values{"name": {""}}, "name"},
		{"unknown source", "name", with(named, "source_ids", "src_nope"), "source_ids"},
		{"bad bucket", "bucket", with(named, "bucket", "a"), "bucket"},
		{"no region", "bucket", with(named, "bucket", "my-events"), "region"},
		{"not an AWS region", "bucket", with(named, "bucket", "my-events", "region", "mars-1"), "region"},
		{"custom region without endpoint", "bucket", with(bucket, "custom_region", "local"), "custom_region"},
		{"bad custom region", "bucket", with(bucket, "endpoint", "http://127.0.0.1:9000", "custom_region", "Local Region"), "custom_region"},
		{"bad endpoint", "bucket", with(bucket, "endpoint", "minio:9000"), "endpoint"},
		{"bad prefix", "bucket", with(bucket, "path_prefix", "/raw/"), "path_prefix"},
		{"bad storage class", "bucket", with(bucket, "storage_class", "COLD"), "storage_class"},
		{"bad sse", "bucket", with(bucket, "server_side_encryption", "aes"), "server_side_encryption"},
		{"kms key without kms", "bucket", with(bucket, "kms_key_id", "alias/x"), "kms_key_id"},
		{"no access mode", "access", bucket, "auth"},
		{"role without ARN", "access", with(bucket, "auth", "role"), "role_arn"},
		{"bad role ARN", "access", with(bucket, "auth", "role", "role_arn", "arn:aws:iam::1:role/x"), "role_arn"},
		{"bad external ID", "access", with(bucket, "auth", "role", "role_arn", testRoleARN, "external_id", "has spaces"), "external_id"},
		{"keys without key", "access", with(bucket, "auth", "keys", "secret", "s"), "key"},
		{"bad key", "access", with(bucket, "auth", "keys", "key", "not a key", "secret", "s"), "key"},
		{"keys without secret", "access", with(bucket, "auth", "keys", "key", "AKIAIOSFODNN7EXAMPLE"), "secret"},
		{"carried bucket tampered", "access", with(bucket, "bucket", "Bad", "auth", "default"), "bucket"},
		{"own credentials with endpoint", "access", with(bucket, "endpoint", "https://storage.example.com", "auth", "default"), "auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.get("/destinations/new") // a new draft: what earlier cases typed is gone
			resp, doc := wizardPost(t, c, "/destinations/new/"+tt.step, tt.form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status: got %d, want 422", resp.StatusCode)
			}
			msg := doc.Find(`[data-testid="` + tt.field + `-error"]`)
			if msg.Length() != 1 || strings.TrimSpace(msg.Text()) == "" {
				t.Fatalf("no message next to %q; form errors: %q", tt.field, doc.Find(".field-error, .form-error").Text())
			}
			if field := doc.Find("#" + tt.field + ", [name=" + tt.field + "]").First(); field.Length() == 1 && tt.field != "source_ids" && tt.field != "auth" {
				if got := field.AttrOr("aria-invalid", ""); got != "true" {
					t.Errorf("field %q: aria-invalid %q, want true", tt.field, got)
				}
			}
		})
	}
	n, _, err := e.DB.ListDestinations(t.Context(), store.Page{})
	if err != nil || len(n) != 0 {
		t.Errorf("stored destinations: got %d (%v), want none", len(n), err)
	}

	// An existing destination's step is validated the same way, and nothing changes.
	d := &store.Destination{Name: "Kept", Config: store.DestinationConfig{Bucket: "kept-bucket", Region: "eu-west-1", Auth: store.AuthDefault}}
	if err := e.DB.CreateDestination(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	resp, doc := wizardPost(t, c, "/destinations/"+d.ID+"/bucket", with(bucket, "bucket", "Bad_Bucket"))
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="bucket-error"]`).Length() != 1 || doc.Find("#bucket").AttrOr("value", "") != "Bad_Bucket" {
		t.Errorf("edit with a bad bucket: status %d, want 422 with the typed value", resp.StatusCode)
	}
	if got, _ := e.DB.DestinationByID(t.Context(), d.ID); got.Config.Bucket != "kept-bucket" {
		t.Errorf("bucket after a refused edit: got %q", got.Config.Bucket)
	}
	// The access step says the server's own credentials do not go with an
	// endpoint, before they are chosen.
	c.get("/destinations/new")
	resp, doc = wizardPost(t, c, "/destinations/new/bucket", with(bucket, "endpoint", "https://storage.example.com", "custom_region", "eu"))
	if note := doc.Find(`[data-testid="default-auth-endpoint"]`).Text(); resp.StatusCode != http.StatusOK || !strings.Contains(note, "Not with a custom Endpoint") {
		t.Errorf("access step after a custom endpoint: status %d, note %q; want the note on the server's own credentials", resp.StatusCode, note)
	}
	// Adding an endpoint to a destination that uses the server's own
	// credentials: the message shows next to the endpoint typed.
	resp, doc = wizardPost(t, c, "/destinations/"+d.ID+"/bucket", with(bucket, "endpoint", "https://storage.example.com"))
	if msg := doc.Find(`[data-testid="endpoint-error"]`).Text(); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "own credentials") {
		t.Errorf("endpoint with the server's own credentials: status %d, endpoint error %q; want 422 with the reason", resp.StatusCode, msg)
	}
	if got, _ := e.DB.DestinationByID(t.Context(), d.ID); got.Config.Endpoint != "" {
		t.Errorf("endpoint after a refused edit: got %q", got.Config.Endpoint)
	}
	for _, p := range []string{"/destinations/" + d.ID + "/nope", "/destinations/dst_nope/name"} {
		if resp, _ := c.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ := c.get("/destinations/new/bucket"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET of a new destination's step: status %d, want the step with the draft's values", resp.StatusCode)
	}
}

func TestDashboardAccessStepWithoutServerIdentity(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	form := url.Values{"name": {"W"}, "bucket": {"my-events"}, "region": {"eu-west-1"}, "path_prefix": {"segment/"},
		"server_side_encryption": {"aws:kms"}, "kms_key_id": {"alias/s3relay"}}
	resp, doc := wizardPost(t, c, "/destinations/new/bucket", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bucket step: status %d", resp.StatusCode)
	}
	if got := doc.Find(`[data-testid="server-identity"]`).Text(); !strings.Contains(got, "could not find its own AWS identity") {
		t.Errorf("identity note: got %q, want the explanation", got)
	}
	externalID := doc.Find("#external_id").AttrOr("value", "")
	trust := doc.Find(`[data-testid="trust-policy"]`).Text()
	if len(externalID) < 32 || !strings.Contains(trust, s3.PrincipalPlaceholder) || !strings.Contains(trust, externalID) {
		t.Errorf("trust policy %s: want the placeholder principal and the external ID %q", trust, externalID)
	}
	perm := doc.Find(`[data-testid="permission-policy"]`).Text()
	for _, want := range []string{"arn:aws:s3:::my-events/segment/*", "kms:GenerateDataKey", "alias/s3relay"} {
		if !strings.Contains(perm, want) {
			t.Errorf("permission policy lacks %q:\n%s", want, perm)
		}
	}

	// Typing the role ARN refreshes the CLI commands (htmx), which name the role.
	form = formOf(doc)
	form.Set("role_arn", "arn:aws:iam::123456789012:role/team/events-writer")
	req, _ := http.NewRequest(http.MethodPost, e.HTTP.URL+"/destinations/new/access-help", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf("/destinations"))
	hx, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, hx)
	cli := mustDoc(t, body).Find(`#cli-commands [data-testid="cli-script"]`).Text()
	for _, want := range []string{"--role-name 'events-writer' --path '/team/'", externalID, "arn:aws:s3:::my-events/segment/*"} {
		if !strings.Contains(cli, want) {
			t.Errorf("CLI commands lack %q:\n%s", want, cli)
		}
	}

	// Back to the bucket step and Next again keep what the access step had,
	// the generated external ID included, but never a secret.
	form.Set("auth", "role")
	form.Set("secret", "typed-then-back")
	form.Set("_back", "1")
	resp, doc = wizardPost(t, c, "/destinations/new/access", form)
	if resp.StatusCode != http.StatusOK || doc.Find("#bucket").AttrOr("value", "") != "my-events" {
		t.Fatalf("back: status %d, want the bucket step with its values", resp.StatusCode)
	}
	if page, _ := doc.Html(); strings.Contains(page, "typed-then-back") {
		t.Errorf("back: the secret was carried in the page")
	}
	resp, doc = wizardPost(t, c, "/destinations/new/bucket", formOf(doc))
	if resp.StatusCode != http.StatusOK || doc.Find("#external_id").AttrOr("value", "") != externalID ||
		doc.Find("#role_arn").AttrOr("value", "") != "arn:aws:iam::123456789012:role/team/events-writer" || !hasAttr(doc.Find("#auth-role"), "checked") {
		t.Fatalf("next again: status %d, external ID %q, role %q; want them kept", resp.StatusCode,
			doc.Find("#external_id").AttrOr("value", ""), doc.Find("#role_arn").AttrOr("value", ""))
	}
	form = formOf(doc)

	// The external ID shown is the one stored.
	resp, _ = c.post("/destinations/new/access", withCSRF(c, form))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("access step: status %d", resp.StatusCode)
	}
	id := strings.Split(resp.Header.Get("Location"), "/")[2]
	d, err := e.DB.DestinationByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Credentials.ExternalID != externalID || d.Config.RoleARN != "arn:aws:iam::123456789012:role/team/events-writer" {
		t.Errorf("stored: external ID %q, role %q; want the shown %q", d.Credentials.ExternalID, d.Config.RoleARN, externalID)
	}
}

func TestDashboardCustomRegionWithEndpoint(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	form := url.Values{"name": {"Garage"}, "bucket": {"my-events"}, "endpoint": {"http://127.0.0.1:3900"},
		"custom_region": {"garage"}, "force_path_style": {"true"}, "auth": {"keys"}, "key": {"GK31c2f218a2e44f485b94239e"}, "secret": {"garage-secret"}}
	resp, body := c.post("/destinations/new/access", withCSRF(c, form))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	id := strings.Split(resp.Header.Get("Location"), "/")[2]
	_, body = c.get("/destinations/" + id + "/bucket")
	doc := mustDoc(t, body)
	if got := doc.Find("#custom_region").AttrOr("value", ""); got != "garage" {
		t.Errorf("region at the endpoint: got %q, want garage", got)
	}
	if !hasAttr(doc.Find("details.advanced"), "open") || !hasAttr(doc.Find("#force_path_style"), "checked") {
		t.Errorf("advanced settings should be open with path style checked")
	}
	if d, _ := e.DB.DestinationByID(t.Context(), id); d.Config.Region != "garage" {
		t.Errorf("stored region: got %q", d.Config.Region)
	}
}

// stepKeys lists a page's wizard steps, and the current one.
func stepKeys(doc *goquery.Document) ([]string, string) {
	var keys []string
	current := ""
	doc.Find(`[data-testid="wizard-steps"] li`).Each(func(_ int, li *goquery.Selection) {
		keys = append(keys, li.AttrOr("data-step", ""))
		if li.Find(`[aria-current="step"]`).Length() == 1 {
			current = li.AttrOr("data-step", "")
		}
	})
	return keys, current
}

// wizardButtons returns where a step's Back and Next links lead.
func wizardButtons(doc *goquery.Document) (back, next string) {
	doc.Find(`.wizard-buttons a[role="button"]`).Each(func(_ int, a *goquery.Selection) {
		switch strings.TrimSpace(a.Text()) {
		case "Back":
			back = a.AttrOr("href", "")
		case "Next":
			next = a.AttrOr("href", "")
		}
	})
	return back, next
}

func TestDashboardWizardMappingsStep(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	e := MustEnv(t)
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	form := url.Values{"name": {"Warehouse"}, "bucket": {"my-events"}, "region": {"us-east-1"}, "path_prefix": {"raw/"}, "auth": {"default"}}
	resp, body := c.post("/destinations/new/access", withCSRF(c, form))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: status %d\n%s", resp.StatusCode, body)
	}
	id := strings.Split(resp.Header.Get("Location"), "/")[2]
	base := "/destinations/" + id + "/"
	mappingsPage := base + "mappings"
	wantSteps := []string{"name", "bucket", "access", "test", "mappings", "enable"}

	// The step bar shows the six steps on every page of the destination, and
	// each links to the mappings step.
	for _, step := range wantSteps {
		resp, body := c.get(base + step)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", step, resp.StatusCode)
		}
		doc := mustDoc(t, body)
		keys, current := stepKeys(doc)
		if !slices.Equal(keys, wantSteps) || current != step {
			t.Errorf("%s: steps %v at %q, want %v at %q", step, keys, current, wantSteps, step)
		}
		if step != "mappings" && doc.Find(`[data-testid="wizard-steps"] a[href="`+mappingsPage+`"]`).Length() != 1 {
			t.Errorf("%s: no link to the mappings step", step)
		}
	}

	// The wizard goes test -> mappings -> enable, and back.
	_, body = c.get(base + "test")
	if _, next := wizardButtons(mustDoc(t, body)); next != mappingsPage {
		t.Errorf("test step: Next leads to %q, want %q", next, mappingsPage)
	}
	_, body = c.get(mappingsPage)
	doc := mustDoc(t, body)
	if back, next := wizardButtons(doc); back != base+"test" || next != base+"enable" {
		t.Errorf("mappings step: Back %q, Next %q; want the test and enable steps", back, next)
	}
	if doc.Find(`[data-testid="empty-state"]`).Length() != 1 || doc.Find(`[data-testid="mapping-row"]`).Length() != 0 {
		t.Errorf("mappings step of a new destination: want the empty state and no rows")
	}
	if got := doc.Find(`[data-testid="new-mapping"]`).AttrOr("href", ""); got != mappingsPage+"/new" {
		t.Errorf("New mapping leads to %q, want the editor", got)
	}
	_, body = c.get(base + "enable")
	doc = mustDoc(t, body)
	if back, _ := wizardButtons(doc); back != mappingsPage {
		t.Errorf("enable step: Back leads to %q, want the mappings step", back)
	}
	warning := doc.Find(`[data-testid="mapping-warning"]`)
	if warning.Length() != 1 || warning.Find("a").AttrOr("href", "") != mappingsPage || doc.Find(`.wizard-buttons button[type="submit"]`).Text() != "Save" {
		t.Errorf("enable step without mappings: want the warning linking to the mappings step, and Save")
	}

	// One click adds Segment's default mapping.
	_, body = c.get(mappingsPage)
	addForm := mustDoc(t, body).Find(`[data-testid="add-default-mapping"]`).Closest("form")
	if addForm.Length() != 1 {
		t.Fatalf("mappings step: no Add the Segment default mapping form")
	}
	resp, body = postAndFollow(t, c, addForm.AttrOr("action", ""), url.Values{})
	doc = mustDoc(t, body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != mappingsPage {
		t.Fatalf("add default: status %d at %s, want the mappings step", resp.StatusCode, resp.Request.URL.Path)
	}
	if _, current := stepKeys(doc); current != "mappings" {
		t.Errorf("after adding the default: current step %q, want mappings", current)
	}
	if row := doc.Find(`[data-testid="mapping-row"]`); row.Length() != 1 || !strings.Contains(row.Text(), "Tracks and identifies") ||
		!strings.HasPrefix(row.Find("code.key-example").Text(), "raw/") {
		t.Errorf("after adding the default: rows %q", row.Text())
	}
	ms, err := e.DB.ListMappings(t.Context(), id)
	if err != nil || len(ms) != 1 {
		t.Fatalf("stored mappings: %v (%v), want one", ms, err)
	}
	var cols []string
	for _, col := range ms[0].Columns {
		cols = append(cols, col.Name)
	}
	var wantCols []string
	for _, col := range format.DefaultColumns() {
		wantCols = append(wantCols, col.Name)
	}
	if m := ms[0]; !m.Enabled || m.Format != store.FormatCSV || m.Trigger != store.DefaultTrigger || !slices.Equal(cols, wantCols) {
		t.Errorf("default mapping: enabled %v, format %q, trigger %q, columns %v; want an enabled csv mapping with the default trigger and Segment's columns",
			m.Enabled, m.Format, m.Trigger, cols)
	}
	_, body = c.get(base + "enable")
	if mustDoc(t, body).Find(`[data-testid="mapping-warning"]`).Length() != 0 {
		t.Errorf("enable step: warns about mappings with an enabled one")
	}

	// A mapping saved from the editor leads back to the mappings step; the
	// editor shows the wizard's steps too.
	_, body = c.get(mappingsPage + "/new")
	if keys, current := stepKeys(mustDoc(t, body)); !slices.Equal(keys, wantSteps) || current != "mappings" {
		t.Errorf("editor: steps %v at %q, want the wizard's at mappings", keys, current)
	}
	editor := editorForm(t, c, mappingsPage+"/new")
	editor.Set("name", "Orders")
	editor.Set("trigger", `type = "track" and event = "Order Completed"`)
	resp, _ = c.post(mappingsPage, editor)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != mappingsPage {
		t.Fatalf("save from the editor: status %d to %q, want 303 to the mappings step", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = c.follow(resp)
	doc = mustDoc(t, body)
	if _, current := stepKeys(doc); current != "mappings" || doc.Find(`[data-testid="mapping-row"]`).Length() != 2 {
		t.Errorf("after saving: step %q with %d mappings, want the mappings step with 2", current, doc.Find(`[data-testid="mapping-row"]`).Length())
	}

	// Enabling finishes the setup; the list links to the mappings.
	_, body = postAndFollow(t, c, base+"enable", url.Values{"enabled": {"true"}})
	doc = mustDoc(t, body)
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "events are delivered to it") {
		t.Errorf("flash after enabling: %q", flash)
	}
	cell := doc.Find(`[data-testid="destination-row"][data-id="` + id + `"] [data-testid="destination-mappings"]`)
	if link := cell.Find("a"); link.AttrOr("href", "") != mappingsPage || strings.TrimSpace(link.Text()) != "2 mappings" {
		t.Errorf("list: mappings link %q to %q, want \"2 mappings\" to %q", strings.TrimSpace(link.Text()), link.AttrOr("href", ""), mappingsPage)
	}
	if strings.Contains(cell.Text(), "none enabled") {
		t.Errorf("list: %q says none is enabled", cell.Text())
	}
}

func TestDashboardDestinationWithoutMappings(t *testing.T) {
	e := MustEnv(t)
	d := &store.Destination{Name: "Empty", Config: store.DestinationConfig{Bucket: "empty-bucket", Region: "eu-west-1", Auth: store.AuthDefault}}
	if err := e.DB.CreateDestination(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login(adminEmail, adminPassword)
	_, body := c.get("/destinations")
	cell := mustDoc(t, body).Find(`[data-testid="destination-mappings"]`)
	if link := cell.Find("a"); link.AttrOr("href", "") != "/destinations/"+d.ID+"/mappings" || strings.TrimSpace(link.Text()) != "Add a mapping" ||
		!strings.Contains(cell.Text(), "none enabled") {
		t.Errorf("list: mappings cell %q linking to %q, want Add a mapping and none enabled", strings.TrimSpace(cell.Text()), link.AttrOr("href", ""))
	}

	// Saving with delivery on is allowed, and says nothing is delivered yet.
	resp, body := postAndFollow(t, c, "/destinations/"+d.ID+"/enable", url.Values{"enabled": {"true"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enable: status %d", resp.StatusCode)
	}
	if flash := mustDoc(t, body).Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "no events are delivered") {
		t.Errorf("flash: got %q, want the warning that nothing is delivered", flash)
	}
	if got, _ := e.DB.DestinationByID(t.Context(), d.ID); !got.Enabled {
		t.Errorf("the destination was not turned on")
	}

	// A mapping that is turned off counts as none.
	m := &store.Mapping{DestinationID: d.ID, Name: "Off", Enabled: false}
	if err := e.DB.CreateMapping(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	_, body = c.get("/destinations/" + d.ID + "/enable")
	if mustDoc(t, body).Find(`[data-testid="mapping-warning"]`).Length() != 1 {
		t.Errorf("enable step: no warning when the only mapping is off")
	}
	_, body = c.get("/destinations")
	if cell := mustDoc(t, body).Find(`[data-testid="destination-mappings"]`); !strings.Contains(cell.Text(), "1 mapping") || !strings.Contains(cell.Text(), "none enabled") {
		t.Errorf("list: mappings cell %q, want 1 mapping, none enabled", strings.TrimSpace(cell.Text()))
	}
}

func TestAPIDestinationStoredWithOwnCredentialsAndEndpointIsRefused(t *testing.T) {
	// A destination stored before s3relay refused the server's own
	// credentials with a custom endpoint: tests and uploads refuse it, and
	// say why, without signing anything for that host.
	miniotest.IsolateAWSEnv(t)
	r := mustMappingRig(t, false)
	m := r.mustCreateMapping(t, `{"name": "csv"}`)
	raw, err := sql.Open("sqlite3", filepath.Join(r.DataDir, "s3relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), `UPDATE destinations SET config = json_set(config, '$.auth', 'default') WHERE id = ?`, r.Dest.ID); err != nil {
		t.Fatal(err)
	}

	resp, body := r.apiRequest(t, http.MethodPost, "/api/v1/destinations/"+r.Dest.ID+"/test", r.Token, "")
	var res testResultJSON
	if err := json.Unmarshal([]byte(body), &res); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("test: status %d %s", resp.StatusCode, body)
	}
	if res.OK || len(res.Steps) != 1 || res.Steps[0].Code != s3.CodeInvalidConfig ||
		!strings.Contains(res.Steps[0].Message, `auth "default" cannot be used with a custom endpoint`) || !strings.Contains(res.Steps[0].Hint, "IAM role or access keys") {
		t.Errorf("test: got %+v, want its first step refused as InvalidConfig with the reason", res)
	}

	resp, body = r.api(t, http.MethodPost, "/"+m.ID+"/test-send", `{"event": {"type": "track", "event": "x", "userId": "u"}}`)
	var sent struct {
		DeliveryID string `json:"delivery_id"`
		Status     string `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &sent); resp.StatusCode != http.StatusOK || err != nil || sent.Status != store.StatusFailed {
		t.Fatalf("test-send: status %d %s, want a failed delivery", resp.StatusCode, body)
	}
	_, body = r.apiGet(t, "/api/v1/deliveries/"+sent.DeliveryID, r.Token)
	var d struct {
		LastError  string `json:"last_error"`
		AttemptLog []struct {
			Code string `json:"code"`
		} `json:"attempt_log"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil || len(d.AttemptLog) != 1 || d.AttemptLog[0].Code != s3.CodeInvalidConfig ||
		!strings.Contains(d.LastError, "custom endpoint") {
		t.Errorf("delivery: got %s, want one InvalidConfig attempt naming the custom endpoint", body)
	}
}
