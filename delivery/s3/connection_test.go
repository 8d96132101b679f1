package s3_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

const (
	bucket  = "events"
	roleARN = "arn:aws:iam::123456789012:role/s3relay-writer"
)

// MustMinIO starts MinIO with the test bucket and keeps the machine's AWS settings out of the test.
func MustMinIO(tb testing.TB) *miniotest.Server {
	tb.Helper()
	miniotest.IsolateAWSEnv(tb)
	srv := miniotest.Start(tb)
	srv.MustCreateBucket(tb, bucket)
	return srv
}

// keysConfig is a destination on srv with its root keys, which may do everything.
func keysConfig(srv *miniotest.Server) s3.Config {
	return s3.Config{
		Bucket: bucket, Region: srv.Region, Auth: s3.AuthKeys,
		Endpoint: srv.Endpoint, ForcePathStyle: true, PathPrefix: "raw/",
		AccessKey: srv.AccessKey, Secret: srv.SecretKey,
	}
}

// roleConfig is a destination on srv that assumes roleARN with externalID through an STS front.
func roleConfig(srv *miniotest.Server, externalID string) s3.Config {
	return s3.Config{
		Bucket: bucket, Region: srv.Region, Auth: s3.AuthRole, RoleARN: roleARN, ExternalID: externalID,
		Endpoint: srv.Endpoint, ForcePathStyle: true, PathPrefix: "raw/",
	}
}

func TestConnectionPasses(t *testing.T) {
	srv := MustMinIO(t)
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{RoleARN: roleARN, ExternalID: "right-external-id"})
	front.Setenv(t)

	tests := []struct {
		name      string
		cfg       s3.Config
		firstStep string
	}{
		{"keys", keysConfig(srv), s3.StepCredentials},
		{"keys with storage class and SSE-S3", withSettings(keysConfig(srv), "REDUCED_REDUNDANCY", s3.SSES3, ""), s3.StepCredentials},
		{"keys with SSE-KMS", withSettings(keysConfig(srv), "STANDARD", s3.SSEKMS, miniotest.KMSKeyName), s3.StepCredentials},
		{"role with the right external id", roleConfig(srv, "right-external-id"), s3.StepAssumeRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s3.TestConnection(context.Background(), tt.cfg)
			if !res.OK {
				t.Fatalf("OK: got false, want true; steps: %+v", res.Steps)
			}
			want := []string{tt.firstStep, s3.StepPut, s3.StepDelete}
			if got := stepNames(res); !slices.Equal(got, want) {
				t.Fatalf("steps: got %q, want %q", got, want)
			}
			for _, step := range res.Steps {
				if !step.OK || step.Warning || step.Code != "" {
					t.Errorf("step %q: got %+v, want ok without warning", step.Name, step)
				}
			}
			if !strings.Contains(res.Steps[1].Message, "raw/s3relay-connection-test/") {
				t.Errorf("put message: got %q, want it to name the probe key under the path prefix", res.Steps[1].Message)
			}
			if keys := srv.MustListKeys(t, bucket, ""); len(keys) != 0 {
				t.Errorf("objects left behind: got %q, want none", keys)
			}
		})
	}
}

func TestConnectionFails(t *testing.T) {
	srv := MustMinIO(t)
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{RoleARN: roleARN, ExternalID: "right-external-id"})
	front.Setenv(t)

	wrongSecret := keysConfig(srv)
	wrongSecret.Secret = "not-the-secret"
	unknownKey := keysConfig(srv)
	unknownKey.AccessKey = "AKIAUNKNOWNKEY000000"
	missingBucket := keysConfig(srv)
	missingBucket.Bucket = "no-such-bucket"
	unreachable := keysConfig(srv)
	unreachable.Endpoint = "http://" + closedAddr(t)
	wrongRegion := keysConfig(srv)
	wrongRegion.Region = "eu-west-1"
	invalid := keysConfig(srv)
	invalid.Auth = "password"

	tests := []struct {
		name     string
		cfg      s3.Config
		step     string
		code     string
		hintHas  []string
		numSteps int
	}{
		{"wrong secret", wrongSecret, s3.StepPut, "SignatureDoesNotMatch", []string{"Secret Access Key", srv.AccessKey}, 2},
		{"unknown key", unknownKey, s3.StepPut, "InvalidAccessKeyId", []string{"Access Key ID", "AKIAUNKNOWNKEY000000"}, 2},
		{"missing bucket", missingBucket, s3.StepPut, "NoSuchBucket", []string{"no-such-bucket", "AWS Bucket Name"}, 2},
		{"refused storage class", withSettings(keysConfig(srv), "GLACIER", "", ""), s3.StepPut, "InvalidStorageClass", []string{"GLACIER", "Storage Class"}, 2},
		{"unusable KMS key", withSettings(keysConfig(srv), "", s3.SSEKMS, "no-such-key"), s3.StepPut, "kms:KeyNotFound", []string{"no-such-key", "kms:GenerateDataKey"}, 2},
		{"wrong region", wrongRegion, s3.StepPut, "AuthorizationHeaderMalformed", []string{"is in us-east-1, not eu-west-1", "AWS Region"}, 2},
		{"endpoint unreachable", unreachable, s3.StepPut, s3.CodeConnectionRefused, []string{unreachable.Endpoint, "Endpoint"}, 2},
		{"wrong external id", roleConfig(srv, "wrong-external-id"), s3.StepAssumeRole, "AccessDenied", []string{"Trust relationships", "sts:ExternalId", "wrong-external-id", roleARN}, 1},
		{"invalid config", invalid, s3.StepCredentials, "InvalidConfig", []string{"Fix the destination's settings"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s3.TestConnection(context.Background(), tt.cfg)
			if res.OK {
				t.Fatalf("OK: got true, want false; steps: %+v", res.Steps)
			}
			if got := len(res.Steps); got != tt.numSteps {
				t.Fatalf("steps: got %d (%+v), want %d", got, res.Steps, tt.numSteps)
			}
			last := res.Steps[len(res.Steps)-1]
			if last.Name != tt.step || last.OK || last.Code != tt.code {
				t.Errorf("failing step: got %q ok=%v code %q (%s), want %q failed with %q", last.Name, last.OK, last.Code, last.Message, tt.step, tt.code)
			}
			for _, want := range tt.hintHas {
				if !strings.Contains(last.Hint, want) {
					t.Errorf("hint: got %q, want it to contain %q", last.Hint, want)
				}
			}
			for _, step := range res.Steps[:len(res.Steps)-1] {
				if !step.OK {
					t.Errorf("step %q before the failing one: got %+v, want ok", step.Name, step)
				}
			}
		})
	}
}

func TestConnectionTimesOut(t *testing.T) {
	srv := MustMinIO(t)
	proxy := miniotest.StartFaultProxy(t, srv.Endpoint)
	proxy.Delay(10 * time.Second)
	cfg := keysConfig(srv)
	cfg.Endpoint = proxy.URL
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res := s3.TestConnection(ctx, cfg)
	last := res.Steps[len(res.Steps)-1]
	if res.OK || last.Name != s3.StepPut || last.Code != s3.CodeTimeout {
		t.Fatalf("got ok=%v, last step %+v; want the put step to time out", res.OK, last)
	}
	if !strings.Contains(last.Hint, proxy.URL) {
		t.Errorf("hint: got %q, want it to name %s", last.Hint, proxy.URL)
	}
}

func TestConnectionPermissions(t *testing.T) {
	srv := MustMinIO(t)

	t.Run("delete not allowed warns", func(t *testing.T) {
		front := miniotest.StartSTS(t, srv, miniotest.STSConfig{
			RoleARN: roleARN, ExternalID: "ext", SessionPolicy: allow("s3:PutObject", "arn:aws:s3:::events/raw/*"),
		})
		front.Setenv(t)
		res := s3.TestConnection(context.Background(), roleConfig(srv, "ext"))
		if !res.OK || len(res.Steps) != 3 {
			t.Fatalf("got ok=%v steps %+v, want ok with three steps", res.OK, res.Steps)
		}
		del := res.Steps[2]
		if !del.OK || !del.Warning || del.Code != "AccessDenied" {
			t.Errorf("delete step: got %+v, want an ok warning with AccessDenied", del)
		}
		for _, want := range []string{"s3:DeleteObject", "arn:aws:s3:::events/raw/s3relay-connection-test/*", "raw/s3relay-connection-test/"} {
			if !strings.Contains(del.Hint, want) {
				t.Errorf("delete hint: got %q, want it to contain %q", del.Hint, want)
			}
		}
		if keys := srv.MustListKeys(t, bucket, "raw/s3relay-connection-test/"); len(keys) != 1 {
			t.Errorf("probe objects: got %q, want the one that could not be deleted", keys)
		}
	})

	t.Run("put not allowed under the prefix", func(t *testing.T) {
		front := miniotest.StartSTS(t, srv, miniotest.STSConfig{
			RoleARN: roleARN, ExternalID: "ext", SessionPolicy: allow("s3:PutObject", "arn:aws:s3:::events/elsewhere/*"),
		})
		front.Setenv(t)
		res := s3.TestConnection(context.Background(), roleConfig(srv, "ext"))
		last := res.Steps[len(res.Steps)-1]
		if res.OK || last.Name != s3.StepPut || last.Code != "AccessDenied" {
			t.Fatalf("got ok=%v, last step %+v; want the put step denied", res.OK, last)
		}
		if want := "s3:PutObject on arn:aws:s3:::events/raw/*"; !strings.Contains(last.Hint, want) {
			t.Errorf("hint: got %q, want it to contain %q", last.Hint, want)
		}
	})
}

func withSettings(cfg s3.Config, storageClass, sse, kmsKeyID string) s3.Config {
	cfg.StorageClass, cfg.SSE, cfg.KMSKeyID = storageClass, sse, kmsKeyID
	return cfg
}

func allow(action, resource string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["` + action + `"],"Resource":["` + resource + `"]}]}`
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

func stepNames(res s3.Result) []string {
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Name)
	}
	return names
}
