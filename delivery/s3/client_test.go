package s3_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

// MustClient builds a client or fails the test.
func MustClient(tb testing.TB, cfg s3.Config) *s3.Client {
	tb.Helper()
	c, err := s3.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("new client: %v", err)
	}
	return c
}

func put(c *s3.Client, key, body string) (s3.PutResult, error) {
	return c.Put(context.Background(), s3.PutInput{Key: key, Body: strings.NewReader(body)})
}

func TestPutWritesObjectWithSettings(t *testing.T) {
	srv := MustMinIO(t)
	c := MustClient(t, withSettings(keysConfig(srv), "REDUCED_REDUNDANCY", s3.SSEKMS, miniotest.KMSKeyName))
	key := c.Config().ObjectKey("segmentdata/batch-1.csv.gz")
	res, err := c.Put(context.Background(), s3.PutInput{
		Key: key, Body: bytes.NewReader([]byte("a,b\n1,2\n")),
		ContentType: "text/csv", ContentEncoding: "gzip", Metadata: map[string]string{"event-count": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.HTTPStatus != http.StatusOK || res.ETag == "" || res.RequestID == "" || res.Duration <= 0 {
		t.Errorf("result: got %+v, want status 200, an ETag, a request id and a duration", res)
	}
	if got, want := key, "raw/segmentdata/batch-1.csv.gz"; got != want {
		t.Errorf("ObjectKey: got %q, want %q", got, want)
	}
	if got, want := string(srv.MustGetObject(t, bucket, key)), "a,b\n1,2\n"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
	head := srv.MustHeadObject(t, bucket, key)
	checks := []struct {
		name      string
		got, want string
	}{
		{"content type", aws.ToString(head.ContentType), "text/csv"},
		{"content encoding", aws.ToString(head.ContentEncoding), "gzip"},
		{"metadata", head.Metadata["event-count"], "1"},
		{"storage class", string(head.StorageClass), "REDUCED_REDUNDANCY"},
		{"encryption", string(head.ServerSideEncryption), string(types.ServerSideEncryptionAwsKms)},
		{"checksum present", boolString(aws.ToString(head.ChecksumCRC32C) != ""), "true"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestPutNeverOverwrites(t *testing.T) {
	srv := MustMinIO(t)
	c := MustClient(t, keysConfig(srv))
	if _, err := put(c, "raw/k", "first"); err != nil {
		t.Fatal(err)
	}
	res, err := put(c, "raw/k", "second")
	if !errors.Is(err, s3.ErrAlreadyExists) {
		t.Fatalf("second put: got %v, want ErrAlreadyExists", err)
	}
	if got, want := res.HTTPStatus, http.StatusPreconditionFailed; got != want {
		t.Errorf("status: got %d, want %d", got, want)
	}
	f := s3.Classify(err)
	if f.Retryable || f.Code != s3.CodeAlreadyExists || f.HTTPStatus != http.StatusPreconditionFailed || f.RequestID == "" {
		t.Errorf("classified: got %+v, want a permanent PreconditionFailed with status and request id", f)
	}
	if got, want := string(srv.MustGetObject(t, bucket, "raw/k")), "first"; got != want {
		t.Errorf("object: got %q, want %q", got, want)
	}
}

func TestPutFaults(t *testing.T) {
	srv := MustMinIO(t)
	proxy := miniotest.StartFaultProxy(t, srv.Endpoint)
	cfg := keysConfig(srv)
	cfg.Endpoint = proxy.URL
	c := MustClient(t, cfg)

	tests := []struct {
		name      string
		fault     func()
		retryable bool
		code      string
		status    int
	}{
		{"slow down", proxy.SlowDown, true, "SlowDown", http.StatusServiceUnavailable},
		{"internal error", func() {
			proxy.Fail(http.StatusInternalServerError, "InternalError", "We encountered an internal error.")
		}, true, "InternalError", http.StatusInternalServerError},
		{"dropped connection", proxy.Drop, true, s3.CodeConnectionReset, 0},
		{"access denied", func() { proxy.Fail(http.StatusForbidden, "AccessDenied", "Access Denied") }, false, "AccessDenied", http.StatusForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fault()
			defer proxy.Pass()
			requests := proxy.Requests()
			_, err := put(c, "raw/fault-"+string(rune('a'+i)), "x")
			f := s3.Classify(err)
			if f == nil {
				t.Fatal("put: got no error, want a fault")
			}
			if f.Retryable != tt.retryable || f.Code != tt.code || f.HTTPStatus != tt.status {
				t.Errorf("classified: got retryable=%v code %q status %d (%s), want retryable=%v code %q status %d",
					f.Retryable, f.Code, f.HTTPStatus, f.Message, tt.retryable, tt.code, tt.status)
			}
			if tt.status != 0 && f.RequestID == "" {
				t.Errorf("request id: got none, want the one the response carried")
			}
			if f.Hint == "" {
				t.Errorf("hint: got none, want one")
			}
			if got := proxy.Requests() - requests; got != 1 {
				t.Errorf("requests sent: got %d, want 1 (the SDK must not retry; the engine does)", got)
			}
		})
	}

	t.Run("passes again after the fault", func(t *testing.T) {
		if _, err := put(c, "raw/after", "x"); err != nil {
			t.Fatalf("put: %v", err)
		}
	})
}

func TestFactoryReusesClients(t *testing.T) {
	// Building a client makes no network call, so no server is needed.
	miniotest.IsolateAWSEnv(t)
	var f s3.Factory
	ctx := context.Background()
	cfg := s3.Config{Bucket: bucket, Region: "eu-west-1", Auth: s3.AuthKeys, AccessKey: "AKIAEXAMPLE", Secret: "secret"}
	must := func(id string, cfg s3.Config) *s3.Client {
		t.Helper()
		c, err := f.Client(ctx, id, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := must("dst_1", cfg)
	if must("dst_1", cfg) != first {
		t.Error("same id and config: got a new client, want the cached one")
	}
	if must("dst_2", cfg) == first {
		t.Error("another destination: got the first one's client, want its own")
	}
	changed := cfg
	changed.Secret = "rotated"
	second := must("dst_1", changed)
	if second == first {
		t.Error("changed secret: got the old client, want a new one")
	}
	if must("dst_1", changed) != second {
		t.Error("after the change: got a new client, want the cached one")
	}
	f.Forget("dst_1")
	if must("dst_1", changed) == second {
		t.Error("after Forget: got the old client, want a new one")
	}
	bad := cfg
	bad.Bucket = ""
	if _, err := f.Client(ctx, "dst_3", bad); err == nil {
		t.Error("config without a bucket: got a client, want an error")
	}
}

func TestRoleCredentialsAreCachedAndRefreshed(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		want     int64
	}{
		{"long-lived credentials are reused", 0, 1},
		{"credentials about to expire are refreshed", 2 * time.Minute, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := MustMinIO(t)
			front := miniotest.StartSTS(t, srv, miniotest.STSConfig{RoleARN: roleARN, ExternalID: "ext", Lifetime: tt.lifetime})
			front.Setenv(t)
			c := MustClient(t, roleConfig(srv, "ext"))
			for i := range 3 {
				if _, err := put(c, "raw/obj-"+string(rune('a'+i)), "x"); err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			if got := front.AssumeRoleCalls(); got != tt.want {
				t.Errorf("AssumeRole calls for three puts: got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRoleDeniedPutClassifiesAsTrustPolicy(t *testing.T) {
	srv := MustMinIO(t)
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{RoleARN: roleARN, ExternalID: "ext"})
	front.Setenv(t)
	_, err := put(MustClient(t, roleConfig(srv, "not-ext")), "raw/k", "x")
	f := s3.Classify(err)
	if f.Retryable || f.Code != "AccessDenied" || f.HTTPStatus != http.StatusForbidden || !strings.Contains(f.Hint, "Trust relationships") {
		t.Errorf("classified: got %+v, want a permanent AccessDenied with the trust-policy hint", f)
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
