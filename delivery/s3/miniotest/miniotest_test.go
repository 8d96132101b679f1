package miniotest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

const roleARN = "arn:aws:iam::123456789012:role/s3relay-writer"

func TestServerPutGetList(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MustCreateBucket(t, "events")
	ctx := context.Background()
	for _, key := range []string{"a/1.csv", "a/2.csv", "b/1.csv"} {
		_, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("events"), Key: aws.String(key), Body: bytes.NewReader([]byte("body of " + key)),
		})
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	if got, want := string(srv.MustGetObject(t, "events", "a/2.csv")), "body of a/2.csv"; got != want {
		t.Errorf("get: got %q, want %q", got, want)
	}
	if got, want := srv.MustListKeys(t, "events", "a/"), []string{"a/1.csv", "a/2.csv"}; !slices.Equal(got, want) {
		t.Errorf("list: got %q, want %q", got, want)
	}
}

func TestServerEncryptionAndConditionalWrites(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MustCreateBucket(t, "events")
	ctx := context.Background()
	tests := []struct {
		key   string
		sse   types.ServerSideEncryption
		kmsID string
	}{
		{"sse-s3", types.ServerSideEncryptionAes256, ""},
		{"sse-kms", types.ServerSideEncryptionAwsKms, miniotest.KMSKeyName},
	}
	for _, tt := range tests {
		in := &s3.PutObjectInput{
			Bucket: aws.String("events"), Key: aws.String(tt.key), Body: bytes.NewReader([]byte("x")),
			ServerSideEncryption: tt.sse, IfNoneMatch: aws.String("*"),
		}
		if tt.kmsID != "" {
			in.SSEKMSKeyId = aws.String(tt.kmsID)
		}
		if _, err := srv.Client().PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", tt.key, err)
		}
		if got := srv.MustHeadObject(t, "events", tt.key).ServerSideEncryption; got != tt.sse {
			t.Errorf("%s: encryption: got %q, want %q", tt.key, got, tt.sse)
		}
		in.Body = bytes.NewReader([]byte("x"))
		_, err := srv.Client().PutObject(ctx, in)
		if got, want := httpStatus(err), http.StatusPreconditionFailed; got != want {
			t.Errorf("%s: second put with If-None-Match: got status %d (%v), want %d", tt.key, got, err, want)
		}
	}
}

func TestBinaryMissing(t *testing.T) {
	t.Setenv(miniotest.EnvBinary, filepath.Join(t.TempDir(), "no-minio"))
	_, err := miniotest.Binary()
	if err == nil || !strings.Contains(err.Error(), ".ci/testdeps") {
		t.Errorf("Binary with a missing file: got %v, want an error that names .ci/testdeps", err)
	}
}

func TestSTS(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MustCreateBucket(t, "events")
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{RoleARN: roleARN, ExternalID: "ext-123", Lifetime: 20 * time.Minute})
	ctx := context.Background()
	client := stsClient(front.URL, front.AccessKey, front.SecretKey)

	t.Run("caller identity", func(t *testing.T) {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToString(out.Arn), miniotest.DefaultCallerARN; got != want {
			t.Errorf("arn: got %q, want %q", got, want)
		}
		if got, want := aws.ToString(out.Account), "111122223333"; got != want {
			t.Errorf("account: got %q, want %q", got, want)
		}
	})

	t.Run("right role and external id", func(t *testing.T) {
		before := front.AssumeRoleCalls()
		start := time.Now()
		out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String(roleARN), RoleSessionName: aws.String("test"), ExternalId: aws.String("ext-123"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := front.AssumeRoleCalls()-before, int64(1); got != want {
			t.Errorf("AssumeRoleCalls: got %d more, want %d", got, want)
		}
		exp := aws.ToTime(out.Credentials.Expiration)
		if exp.Before(start.Add(19*time.Minute)) || exp.After(time.Now().Add(21*time.Minute)) {
			t.Errorf("expiration: got %s, want about 20 minutes from %s", exp, start)
		}
		c := out.Credentials
		s3c := s3Client(srv.Endpoint, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))})
		if err != nil {
			t.Fatalf("put with the assumed credentials: %v", err)
		}
	})

	denied := []struct {
		name     string
		client   *sts.Client
		role, id string
		code     string
	}{
		{"wrong external id", client, roleARN, "ext-999", "AccessDenied"},
		{"missing external id", client, roleARN, "", "AccessDenied"},
		{"wrong role", client, "arn:aws:iam::123456789012:role/other", "ext-123", "AccessDenied"},
		{"unknown caller", stsClient(front.URL, "AKIAUNKNOWN", "secret"), roleARN, "ext-123", "InvalidClientTokenId"},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.role), RoleSessionName: aws.String("test")}
			if tt.id != "" {
				in.ExternalId = aws.String(tt.id)
			}
			_, err := tt.client.AssumeRole(ctx, in)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %v, want an API error", err)
			}
			if got := apiErr.ErrorCode(); got != tt.code {
				t.Errorf("code: got %q, want %q", got, tt.code)
			}
			if got, want := httpStatus(err), http.StatusForbidden; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
		})
	}
}

func TestSTSSessionPolicy(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MustCreateBucket(t, "events")
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{
		RoleARN: roleARN, ExternalID: "ext",
		SessionPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::events/*"]}]}`,
	})
	ctx := context.Background()
	out, err := stsClient(front.URL, front.AccessKey, front.SecretKey).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("test"), ExternalId: aws.String("ext"),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	s3c := s3Client(srv.Endpoint, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))}); err != nil {
		t.Fatalf("put: got %v, want success", err)
	}
	_, err = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("events"), Key: aws.String("k")})
	if got, want := apiCode(err), "AccessDenied"; got != want {
		t.Errorf("delete: got code %q (%v), want %q", got, err, want)
	}
}

func TestSTSSetenv(t *testing.T) {
	srv := miniotest.Start(t)
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{RoleARN: roleARN, CallerARN: "arn:aws:iam::444455556666:role/relay"})
	front.Setenv(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity through the default config: %v", err)
	}
	if got, want := aws.ToString(out.Arn), "arn:aws:iam::444455556666:role/relay"; got != want {
		t.Errorf("arn: got %q, want %q", got, want)
	}
}

func TestFaultProxy(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MustCreateBucket(t, "events")
	proxy := miniotest.StartFaultProxy(t, srv.Endpoint)
	client := s3Client(proxy.URL, srv.AccessKey, srv.SecretKey, "")
	ctx := context.Background()
	put := func(ctx context.Context) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))})
		return err
	}
	del := func(ctx context.Context) error {
		_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("events"), Key: aws.String("k")})
		return err
	}

	t.Run("pass through keeps signatures valid", func(t *testing.T) {
		if err := put(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := string(srv.MustGetObject(t, "events", "k")), "v"; got != want {
			t.Errorf("object: got %q, want %q", got, want)
		}
	})

	t.Run("slow down", func(t *testing.T) {
		proxy.SlowDown()
		defer proxy.Pass()
		err := put(ctx)
		if got, want := apiCode(err), "SlowDown"; got != want {
			t.Errorf("code: got %q (%v), want %q", got, err, want)
		}
		if got, want := httpStatus(err), http.StatusServiceUnavailable; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
	})

	t.Run("error for one method only", func(t *testing.T) {
		proxy.Set(miniotest.Fault{Kind: miniotest.FaultError, Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied.", Method: http.MethodDelete})
		defer proxy.Pass()
		if err := put(ctx); err != nil {
			t.Errorf("put: got %v, want it passed through", err)
		}
		if got, want := apiCode(del(ctx)), "AccessDenied"; got != want {
			t.Errorf("delete: got code %q, want %q", got, want)
		}
	})

	t.Run("drop", func(t *testing.T) {
		proxy.Drop()
		defer proxy.Pass()
		err := put(ctx)
		var sendErr *smithyhttp.RequestSendError
		if !errors.As(err, &sendErr) {
			t.Errorf("got %v, want a RequestSendError", err)
		}
	})

	t.Run("delay", func(t *testing.T) {
		proxy.Delay(300 * time.Millisecond)
		defer proxy.Pass()
		start := time.Now()
		if err := put(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := time.Since(start), 300*time.Millisecond; got < want {
			t.Errorf("put took %s, want at least %s", got, want)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := put(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("put with a shorter deadline: got %v, want a deadline error", err)
		}
	})

	t.Run("counts", func(t *testing.T) {
		requests, faulted := proxy.Requests(), proxy.Faulted()
		proxy.SlowDown()
		_ = put(ctx)
		proxy.Pass()
		if err := put(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := proxy.Requests()-requests, int64(2); got != want {
			t.Errorf("requests: got %d more, want %d", got, want)
		}
		if got, want := proxy.Faulted()-faulted, int64(1); got != want {
			t.Errorf("faulted: got %d more, want %d", got, want)
		}
	})
}

func stsClient(endpoint, key, secret string) *sts.Client {
	return sts.New(sts.Options{
		BaseEndpoint: aws.String(endpoint), Region: miniotest.Region, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

func s3Client(endpoint, key, secret, session string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), Region: miniotest.Region, UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, session),
	})
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode()
	}
	return 0
}
