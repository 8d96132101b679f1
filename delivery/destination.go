package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// S3Config returns the S3 client configuration of a destination: its settings
// and its credentials. It is a pure translation; the store has validated both.
func S3Config(d *store.Destination) s3.Config {
	c := d.Config
	return s3.Config{
		Bucket:         c.Bucket,
		Region:         c.Region,
		Auth:           c.Auth,
		RoleARN:        c.RoleARN,
		ExternalID:     d.Credentials.ExternalID,
		Endpoint:       c.Endpoint,
		ForcePathStyle: c.ForcePathStyle,
		PathPrefix:     c.PathPrefix,
		StorageClass:   c.StorageClass,
		SSE:            c.ServerSideEncryption,
		KMSKeyID:       c.KMSKeyID,
		AccessKey:      d.Credentials.Key,
		Secret:         d.Credentials.Secret,
		Session:        d.Credentials.Session,
	}
}

const (
	// testTimeout bounds a whole connection test, below the HTTP server's
	// write timeout, so the dashboard always gets an answer to show.
	testTimeout = 50 * time.Second
	// identityTimeout bounds the lookup of the server's own identity: the
	// default credential chain may probe instance metadata that is not there.
	identityTimeout = 4 * time.Second
	// identityFoundTTL and identityMissingTTL are how long a lookup's answer
	// is reused. A found identity rarely changes; a missing one is retried
	// soon, so fixing the server's credentials shows up without a restart.
	identityFoundTTL   = time.Hour
	identityMissingTTL = time.Minute
)

// Tester runs destinations' connection tests, knows the server's own AWS
// identity (the principal of the trust policies the dashboard generates), and
// drops the shared client factory's client of a changed or deleted
// destination. It is safe for concurrent use.
type Tester struct {
	db      *store.DB
	clients *s3.Factory

	// Identify finds the server's own AWS identity; NewTester sets it to
	// s3.CallerIdentity.
	Identify func(context.Context) (s3.Identity, error)

	mu       sync.Mutex
	identity s3.Identity
	identErr error
	identAt  time.Time
}

// NewTester returns a tester for the destinations of db. clients is the
// factory the delivery engine uploads with: tests connect only where its
// endpoint policy lets deliveries connect.
func NewTester(db *store.DB, clients *s3.Factory) *Tester {
	return &Tester{db: db, clients: clients, Identify: s3.CallerIdentity}
}

// Test runs the connection test of destination id with its stored settings,
// as deliveries will use them, records the outcome as the destination's last
// test (a pass marks a destination of unknown health healthy) and returns it. Returns ENOTFOUND.
func (t *Tester) Test(ctx context.Context, id string) (store.TestResult, error) {
	d, err := t.db.DestinationByID(ctx, id)
	if err != nil {
		return store.TestResult{}, err
	}
	// A test once started runs to its end even when the caller goes away
	// (a closed tab), so the recorded last test is what S3 said, never
	// "canceled".
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), testTimeout)
	defer cancel()
	res := t.clients.TestConnection(tctx, S3Config(d))
	out := store.TestResult{OK: res.OK, At: t.db.Now(), Steps: make([]store.TestStep, 0, len(res.Steps)), Settings: d.SettingsFingerprint()}
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, store.TestStep(s))
	}
	if err := t.db.RecordTest(tctx, id, out); err != nil {
		return out, err
	}
	return out, nil
}

// ServerIdentity returns the server's own AWS identity as sts:GetCallerIdentity
// reports it with the default credential chain and the standard AWS
// environment settings. Answers are cached, on the database's clock: a found
// identity for an hour, a failed lookup for a minute.
func (t *Tester) ServerIdentity(ctx context.Context) (s3.Identity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ttl := identityFoundTTL
	if t.identErr != nil {
		ttl = identityMissingTTL
	}
	if !t.identAt.IsZero() && t.db.Now().Sub(t.identAt) < ttl {
		return t.identity, t.identErr
	}
	ictx, cancel := context.WithTimeout(ctx, identityTimeout)
	defer cancel()
	id, err := t.Identify(ictx)
	if ctx.Err() != nil {
		// The caller went away: that says nothing about the identity.
		return id, err
	}
	t.identity, t.identErr, t.identAt = id, err, t.db.Now()
	return id, err
}

// Forget drops the cached S3 client of destination id, after the destination
// changed or was deleted.
func (t *Tester) Forget(id string) { t.clients.Forget(id) }
