package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Step names of TestConnection, stable for the dashboard and its tests.
const (
	// StepAssumeRole is the first step in role mode: sts:AssumeRole with the external ID.
	StepAssumeRole = "Assume IAM role"
	// StepCredentials is the first step in keys and default mode: resolving the credentials.
	StepCredentials = "Load credentials"
	// StepPut writes a small probe object under the path prefix.
	StepPut = "Write test object"
	// StepDelete removes the probe object again.
	StepDelete = "Delete test object"
)

// probeFolder is where, under the path prefix, connection-test probes are written.
const probeFolder = "s3relay-connection-test/"

// stepTimeout bounds each step when the caller's context allows longer.
const stepTimeout = 30 * time.Second

// Result is the outcome of TestConnection.
type Result struct {
	// OK is true when credentials and the test upload succeeded: the destination can receive files.
	OK bool `json:"ok"`
	// Steps are the steps that ran, in order; after a failed step the remaining ones are not run, so
	// the failing step is the last one.
	Steps []Step `json:"steps"`
}

// Step is one step of the connection test. A step with OK and Warning both true passed but wants
// attention: its Code, Message and Hint say why. Only StepDelete warns, when the probe could not be
// removed; s3relay never needs to delete objects.
type Step struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Warning bool   `json:"warning"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// TestConnection checks a destination the way deliveries will use it: (1) get credentials (AssumeRole
// in role mode), (2) PutObject a small probe object at <path prefix>s3relay-connection-test/<time>-<random>.txt
// with the configured storage class, server-side encryption, a checksum and If-None-Match, and (3) delete
// it, which only warns when not permitted. It never calls ListBucket or GetObject, so it needs no more
// permissions than deliveries do. It builds its own client, so it always sees cfg as given.
// A custom endpoint is reached under the zero EndpointPolicy; Factory.TestConnection applies the factory's.
func TestConnection(ctx context.Context, cfg Config) Result {
	return testConnection(ctx, cfg, EndpointPolicy{})
}

func testConnection(ctx context.Context, cfg Config, policy EndpointPolicy) Result {
	first := StepCredentials
	if cfg.Auth == AuthRole {
		first = StepAssumeRole
	}
	client, err := newClient(ctx, cfg, policy)
	if err != nil {
		return Result{Steps: []Step{failedStep(first, err)}}
	}

	var res Result
	step := credentialsStep(ctx, client, first)
	res.Steps = append(res.Steps, step)
	if !step.OK {
		return res
	}

	key := cfg.ObjectKey(probeFolder + time.Now().UTC().Format("20060102T150405Z") + "-" + strings.ToLower(rand.Text()[:10]) + ".txt")
	step = putStep(ctx, client, key)
	res.Steps = append(res.Steps, step)
	if !step.OK {
		return res
	}
	res.OK = true

	res.Steps = append(res.Steps, deleteStep(ctx, client, key))
	return res
}

func credentialsStep(ctx context.Context, client *Client, name string) Step {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	cfg := client.Config()
	creds, err := client.Credentials(ctx)
	if err != nil {
		return failedStep(name, err)
	}
	step := Step{Name: name, OK: true}
	switch cfg.Auth {
	case AuthRole:
		step.Message = fmt.Sprintf("Assumed %s with the external ID.", cfg.RoleARN)
		if creds.CanExpire {
			step.Message += fmt.Sprintf(" Temporary credentials valid until %s.", creds.Expires.UTC().Format("15:04 MST"))
		}
	case AuthKeys:
		step.Message = fmt.Sprintf("Using access key %s; the next step shows whether AWS accepts it.", creds.AccessKeyID)
	default:
		step.Message = fmt.Sprintf("Using the server's own credentials (access key %s from %s).", creds.AccessKeyID, creds.Source)
	}
	return step
}

func putStep(ctx context.Context, client *Client, key string) Step {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	cfg := client.Config()
	body := fmt.Sprintf("s3relay connection test, written %s. Safe to delete.\n", time.Now().UTC().Format(time.RFC3339))
	res, err := client.Put(ctx, PutInput{Key: key, Body: bytes.NewReader([]byte(body)), ContentType: "text/plain; charset=utf-8"})
	if err != nil {
		return failedStep(StepPut, err)
	}
	class := cfg.StorageClass
	if class == "" {
		class = "STANDARD"
	}
	sse := "bucket default encryption"
	if cfg.SSE != SSENone {
		sse = "encryption " + cfg.SSE
	}
	return Step{Name: StepPut, OK: true, Message: fmt.Sprintf("Wrote s3://%s/%s (%s, %s, CRC32C checksum) in %d ms.",
		cfg.Bucket, key, class, sse, res.Duration.Milliseconds())}
}

func deleteStep(ctx context.Context, client *Client, key string) Step {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := client.Delete(ctx, key); err != nil {
		step := failedStep(StepDelete, err)
		step.OK, step.Warning = true, true
		step.Hint = fmt.Sprintf("The probe object %s stays in the bucket; delete it by hand. %s", key, step.Hint)
		return step
	}
	return Step{Name: StepDelete, OK: true, Message: "Deleted the test object."}
}

func failedStep(name string, err error) Step {
	f := Classify(err)
	return Step{Name: name, Code: f.Code, Message: f.Message, Hint: f.Hint}
}
