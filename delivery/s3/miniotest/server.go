// Package miniotest runs a real MinIO server for tests, together with the two test-only fronts MinIO lacks:
// an STS that checks RoleArn and ExternalId like AWS does (StartSTS), and a reverse proxy that injects
// faults on demand (StartFaultProxy).
//
// The MinIO binary is installed by .ci/testdeps (run by `make test`) into
// ${S3RELAY_CACHE:-$HOME/.cache/s3relay}/bin/minio; the S3RELAY_MINIO_BIN environment variable overrides
// the path. A missing binary fails the test: it is never skipped.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// EnvBinary names the environment variable that overrides the path of the MinIO binary.
const EnvBinary = "S3RELAY_MINIO_BIN"

// Region is the region MinIO is started with and that clients must sign for.
const Region = "us-east-1"

// KMSKeyName is the name of the built-in KMS key MinIO is started with; SSE-S3 and SSE-KMS both work,
// and "aws:kms" uploads may name this key (or none) as their KMS key id.
const KMSKeyName = "s3relay-test-key"

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	startTries   = 3
)

// Server is a running MinIO process, stopped when the test that started it ends.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:<port>; use path-style addressing.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Region is the region MinIO signs for.
	Region string
	// Dir is the data directory.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
	output *syncBuffer
	client *s3.Client
}

// Binary returns the path of the MinIO binary: $S3RELAY_MINIO_BIN, else the cache path .ci/testdeps
// installs into. It returns an error telling how to install MinIO when the file is missing.
func Binary() (string, error) {
	path := os.Getenv(EnvBinary)
	if path == "" {
		cache := os.Getenv("S3RELAY_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("find the MinIO binary: %w (set %s)", err, EnvBinary)
			}
			cache = filepath.Join(home, ".cache", "s3relay")
		}
		path = filepath.Join(cache, "bin", "minio")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("MinIO binary not found at %s: run .ci/testdeps (or `make test`, which runs it) to install it, or set %s: %w", path, EnvBinary, err)
	}
	return path, nil
}

// Start starts MinIO on a free loopback port with a fresh data directory, waits until it is ready and
// stops it in tb.Cleanup. It fails the test when the binary is missing or MinIO does not come up.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	var lastErr error
	// A free port can be taken by someone else between choosing it and MinIO binding it; try again then.
	for range startTries {
		s, err := start(tb, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	tb.Fatalf("miniotest: start MinIO: %v", lastErr)
	return nil
}

func start(tb testing.TB, bin string) (*Server, error) {
	tb.Helper()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	consoleAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := tb.TempDir()
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: "s3relay-root",
		SecretKey: rand.Text(),
		Region:    Region,
		Dir:       filepath.Join(dir, "data"),
		exited:    make(chan struct{}),
		output:    &syncBuffer{},
	}
	kmsKey := make([]byte, 32)
	rand.Read(kmsKey)
	s.cmd = exec.Command(bin, "server", "--quiet",
		"--address", addr, "--console-address", consoleAddr,
		"--certs-dir", filepath.Join(dir, "certs"), s.Dir)
	s.cmd.Env = append(environWithout("MINIO_"),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_SITE_REGION="+s.Region,
		"MINIO_KMS_SECRET_KEY="+KMSKeyName+":"+base64.StdEncoding.EncodeToString(kmsKey),
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	setParentDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w; MinIO output:\n%s", err, s.output.String())
	}
	tb.Cleanup(s.stop)
	s.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		UsePathStyle: true,
		// GetObject on MinIO has no checksum to validate; the SDK would log a warning on every call.
		DisableLogOutputChecksumValidationSkipped: true,
	})
	if err := s.waitSigned(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w; MinIO output:\n%s", err, s.output.String())
	}
	return s, nil
}

// waitSigned waits until MinIO answers a signed request. /minio/health/ready
// answers 200 before the IAM subsystem has loaded the root credentials; until
// then, on a busy machine, signed requests get a 403 with a body that is not
// even XML (seen under -race as a failed CreateBucket).
func (s *Server) waitSigned() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO does not answer signed requests after %s: %w", readyTimeout, err)
		}
		select {
		case <-s.exited:
			return errors.New("MinIO exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("MinIO exited before it was ready")
		default:
		}
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("MinIO not ready after %s", readyTimeout)
}

func (s *Server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Output returns what MinIO has printed so far, for failure messages.
func (s *Server) Output() string { return s.output.String() }

// Client returns an S3 client with the root credentials, for setting up and checking test state.
func (s *Server) Client() *s3.Client { return s.client }

// MustCreateBucket creates a bucket or fails the test.
func (s *Server) MustCreateBucket(tb testing.TB, name string) {
	tb.Helper()
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}

// MustPutObject writes an object with the root credentials or fails the test.
func (s *Server) MustPutObject(tb testing.TB, bucket, key string, body []byte) {
	tb.Helper()
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		tb.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// MustGetObject returns an object's body or fails the test.
func (s *Server) MustGetObject(tb testing.TB, bucket, key string) []byte {
	tb.Helper()
	out, err := s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		tb.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		tb.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return body
}

// MustHeadObject returns an object's metadata (storage class, encryption, user metadata, content type)
// or fails the test.
func (s *Server) MustHeadObject(tb testing.TB, bucket, key string) *s3.HeadObjectOutput {
	tb.Helper()
	out, err := s.client.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: "ENABLED",
	})
	if err != nil {
		tb.Fatalf("head %s/%s: %v", bucket, key, err)
	}
	return out
}

// MustListKeys returns every key under prefix in lexical order, or fails the test.
func (s *Server) MustListKeys(tb testing.TB, bucket, prefix string) []string {
	tb.Helper()
	keys := []string{}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			tb.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			keys = append(keys, aws.ToString(obj.Key))
		}
	}
	return keys
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// environWithout returns the process environment minus the variables starting with prefix, so that a
// developer's own MINIO_* settings cannot change the server under test.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer collects a child process's output; the process writes while tests may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
