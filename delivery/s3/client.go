package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const (
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	// responseHeaderTimeout counts from the end of the request body, so it does not limit large uploads.
	responseHeaderTimeout = 60 * time.Second
	// roleSessionDuration is the lifetime asked for assumed-role credentials: AWS's default maximum for
	// a role, so no role needs its MaxSessionDuration raised.
	roleSessionDuration = time.Hour
	// credentialsExpiryWindow is how long before expiry cached credentials are refreshed (jittered down
	// to half of it), so an upload never starts with credentials about to expire.
	credentialsExpiryWindow = 5 * time.Minute
)

// RoleSessionName is the session name s3relay uses when it assumes a role; it shows in CloudTrail.
const RoleSessionName = "s3relay"

// ErrAlreadyExists is returned (wrapped) by Put when the key already exists: the upload's If-None-Match
// condition failed with 412. For a key s3relay sealed itself this means an earlier attempt succeeded,
// so the engine counts it as delivered.
var ErrAlreadyExists = errors.New("object already exists")

// Client writes one destination's objects. It is safe for concurrent use.
type Client struct {
	cfg   Config
	api   *awss3.Client
	creds aws.CredentialsProvider
}

// New builds a client for cfg: credentials for its auth mode (assumed-role credentials are cached and
// refreshed before they expire), its custom endpoint and path style, the SDK's own retries off (retries
// live in the engine) and bounded connect and response timeouts. A custom endpoint is reached under the
// zero EndpointPolicy; Factory.Client applies the factory's. It makes no network call.
func New(ctx context.Context, cfg Config) (*Client, error) {
	return newClient(ctx, cfg, EndpointPolicy{})
}

func newClient(ctx context.Context, cfg Config, policy EndpointPolicy) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = tlsHandshakeTimeout
			t.ResponseHeaderTimeout = responseHeaderTimeout
		})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryMaxAttempts(1),
		config.WithHTTPClient(httpClient),
	}
	var endpoint *url.URL
	if cfg.Endpoint != "" {
		// check has parsed it.
		endpoint, _ = url.Parse(cfg.Endpoint)
	}
	if cfg.Auth == AuthKeys {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.Secret, cfg.Session)))
	}
	// The default configuration also carries the standard AWS environment settings, such as
	// AWS_ENDPOINT_URL_STS for the STS endpoint used by role mode.
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Auth == AuthRole {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = RoleSessionName
			o.Duration = roleSessionDuration
			if cfg.ExternalID != "" {
				o.ExternalID = aws.String(cfg.ExternalID)
			}
		})
		awsCfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = credentialsExpiryWindow
			o.ExpiryWindowJitterFrac = 0.5
		})
	}
	creds := credentialsProvider{awsCfg.Credentials}
	api := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		o.Credentials = creds
		o.UsePathStyle = cfg.ForcePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			// Only the S3 client talks to the host the user typed; STS and the
			// server's own credential chain (instance metadata included) keep
			// the unguarded client. The loaded configuration's client carries
			// a CA bundle (AWS_CA_BUNDLE) when one is set.
			base := httpClient
			if loaded, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
				base = loaded
			}
			o.HTTPClient = policy.httpClient(base, endpoint)
		}
	})
	return &Client{cfg: cfg, api: api, creds: creds}, nil
}

// Config returns the configuration the client was built from.
func (c *Client) Config() Config { return c.cfg }

// Credentials resolves the client's credentials: for role mode this calls sts:AssumeRole (or returns
// the cached credentials while they are fresh). Errors classify like upload errors.
func (c *Client) Credentials(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return creds, &opError{op: "get credentials", cfg: c.cfg, err: err}
	}
	return creds, nil
}

// PutInput is one object to upload.
type PutInput struct {
	// Key is the full object key, path prefix included (see Config.ObjectKey).
	Key string
	// Body is read from its start; it must be seekable so the checksum can be computed before sending
	// and the SDK can sign it over plain HTTP. Use a *bytes.Reader or an *os.File.
	Body            io.ReadSeeker
	ContentType     string
	ContentEncoding string
	// Metadata becomes x-amz-meta-* headers.
	Metadata map[string]string
}

// PutResult describes a finished upload attempt, successful or not.
type PutResult struct {
	ETag       string
	RequestID  string
	HTTPStatus int
	Duration   time.Duration
}

// Put uploads one object with If-None-Match: * (it never overwrites), a CRC32C checksum that S3 verifies
// and stores with the object, and the destination's storage class and server-side encryption.
// CRC32C rather than SHA-256: it is computed in hardware and S3 checks it end to end just as well.
// Bodies above MultipartThreshold are uploaded in parts (see putMultipart).
// A 412 returns ErrAlreadyExists (test with errors.Is); other errors classify with Classify. The result
// is filled in as far as a response arrived, also on error.
func (c *Client) Put(ctx context.Context, in PutInput) (PutResult, error) {
	if size, err := in.Body.Seek(0, io.SeekEnd); err == nil && size > MultipartThreshold {
		return c.putMultipart(ctx, in, size)
	}
	if _, err := in.Body.Seek(0, io.SeekStart); err != nil {
		return PutResult{}, &opError{op: "put", key: in.Key, cfg: c.cfg, err: err}
	}
	h := c.headers(in)
	input := &awss3.PutObjectInput{
		Bucket:            aws.String(c.cfg.Bucket),
		Key:               aws.String(in.Key),
		Body:              in.Body,
		IfNoneMatch:       aws.String("*"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		Metadata:          in.Metadata,
		ContentType:       h.contentType, ContentEncoding: h.contentEncoding,
		StorageClass: h.storageClass, ServerSideEncryption: h.sse, SSEKMSKeyId: h.kmsKeyID,
	}
	start := time.Now()
	out, err := c.api.PutObject(ctx, input)
	res := PutResult{Duration: time.Since(start)}
	if err != nil {
		res.HTTPStatus, res.RequestID = responseInfo(err)
		if res.HTTPStatus == http.StatusPreconditionFailed {
			err = fmt.Errorf("%w: %w", ErrAlreadyExists, err)
		}
		return res, &opError{op: "put", key: in.Key, cfg: c.cfg, err: err}
	}
	res.ETag = aws.ToString(out.ETag)
	res.RequestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		res.HTTPStatus = raw.StatusCode
	}
	return res, nil
}

// objectHeaders are the headers every object of a destination is written
// with, whether in one PUT or in parts.
type objectHeaders struct {
	contentType, contentEncoding, kmsKeyID *string
	storageClass                           types.StorageClass
	sse                                    types.ServerSideEncryption
}

func (c *Client) headers(in PutInput) objectHeaders {
	var h objectHeaders
	if in.ContentType != "" {
		h.contentType = aws.String(in.ContentType)
	}
	if in.ContentEncoding != "" {
		h.contentEncoding = aws.String(in.ContentEncoding)
	}
	if c.cfg.StorageClass != "" {
		h.storageClass = types.StorageClass(c.cfg.StorageClass)
	}
	if c.cfg.SSE != SSENone {
		h.sse = types.ServerSideEncryption(c.cfg.SSE)
	}
	if c.cfg.SSE == SSEKMS && c.cfg.KMSKeyID != "" {
		h.kmsKeyID = aws.String(c.cfg.KMSKeyID)
	}
	return h
}

// Delete removes one object. s3relay only deletes its own connection-test probes.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := c.api.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return &opError{op: "delete", key: key, cfg: c.cfg, err: err}
	}
	return nil
}

// Factory hands out one client per destination and reuses it while the destination's configuration
// stays the same, so connections and assumed-role credentials are shared by all of its uploads.
// The zero Factory is ready to use; it is safe for concurrent use.
type Factory struct {
	// Endpoints says which addresses custom endpoints may connect to; set it before the first Client.
	Endpoints EndpointPolicy

	mu      sync.Mutex
	clients map[string]cachedClient
}

type cachedClient struct {
	fingerprint string
	client      *Client
}

// Client returns the client for destination id, building a new one when there is none yet or cfg
// differs from the configuration the cached one was built with.
func (f *Factory) Client(ctx context.Context, id string, cfg Config) (*Client, error) {
	fp := cfg.fingerprint()
	f.mu.Lock()
	defer f.mu.Unlock()
	if cached, ok := f.clients[id]; ok && cached.fingerprint == fp {
		return cached.client, nil
	}
	client, err := newClient(ctx, cfg, f.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", id, err)
	}
	if f.clients == nil {
		f.clients = map[string]cachedClient{}
	}
	f.clients[id] = cachedClient{fingerprint: fp, client: client}
	return client, nil
}

// TestConnection runs TestConnection with the factory's endpoint policy, so a test connects only
// where deliveries may. It builds its own client, so it always sees cfg as given.
func (f *Factory) TestConnection(ctx context.Context, cfg Config) Result {
	return testConnection(ctx, cfg, f.Endpoints)
}

// CheckEndpoint checks a custom endpoint URL before it is stored, with the factory's endpoint
// policy (see EndpointPolicy.CheckEndpoint). The error's text is a sentence for the user; it wraps
// the *EndpointError.
func (f *Factory) CheckEndpoint(endpoint string) error {
	var e *EndpointError
	if err := f.Endpoints.CheckEndpoint(endpoint); errors.As(err, &e) {
		return endpointRefusal{e}
	}
	return nil
}

// endpointRefusal words an EndpointError for a form field.
type endpointRefusal struct{ *EndpointError }

func (r endpointRefusal) Error() string {
	return fmt.Sprintf("%s is %s. %s", r.Addr, r.Rule, endpointHint(r.EndpointError))
}

func (r endpointRefusal) Unwrap() error { return r.EndpointError }

// Forget drops the cached client of destination id, for a deleted destination.
func (f *Factory) Forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clients, id)
}

// credentialsProvider marks credential failures, so Classify can tell "could not get credentials" from
// "the request was refused".
type credentialsProvider struct {
	aws.CredentialsProvider
}

func (p credentialsProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return creds, &credentialsError{err: err}
	}
	return creds, nil
}

type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// opError carries the destination an S3 call was made for, so Classify can name the bucket, prefix and
// role in its hints.
type opError struct {
	op  string
	key string
	cfg Config
	err error
}

func (e *opError) Error() string {
	if e.key == "" {
		return fmt.Sprintf("%s for s3://%s: %v", e.op, e.cfg.Bucket, e.err)
	}
	return fmt.Sprintf("%s s3://%s/%s: %v", e.op, e.cfg.Bucket, e.key, e.err)
}

func (e *opError) Unwrap() error { return e.err }
