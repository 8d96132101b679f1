package delivery_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

func TestS3ConfigCarriesEverySetting(t *testing.T) {
	d := &store.Destination{
		Config: store.DestinationConfig{
			Bucket: "b", Region: "eu-west-1", Auth: store.AuthRole, RoleARN: "arn:aws:iam::123456789012:role/r",
			Endpoint: "http://127.0.0.1:9000", ForcePathStyle: true, PathPrefix: "p/", StorageClass: "STANDARD_IA",
			ServerSideEncryption: store.SSEKMS, KMSKeyID: "alias/k",
		},
		Credentials: store.Credentials{ExternalID: "x", Key: "k", Secret: "s", Session: "t"},
	}
	got := delivery.S3Config(d)
	want := s3.Config{
		Bucket: "b", Region: "eu-west-1", Auth: s3.AuthRole, RoleARN: "arn:aws:iam::123456789012:role/r", ExternalID: "x",
		Endpoint: "http://127.0.0.1:9000", ForcePathStyle: true, PathPrefix: "p/", StorageClass: "STANDARD_IA",
		SSE: s3.SSEKMS, KMSKeyID: "alias/k", AccessKey: "k", Secret: "s", Session: "t",
	}
	if got != want {
		t.Errorf("S3Config:\ngot  %+v\nwant %+v", got, want)
	}
}

// mustTesterDB opens an empty database whose clock the test sets.
func mustTesterDB(tb testing.TB, now *time.Time) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "s3relay.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.Now = func() time.Time { return *now }
	return db
}

func TestServerIdentityIsCached(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	db := mustTesterDB(t, &now)
	tester := delivery.NewTester(db, &s3.Factory{})
	calls := 0
	var answer error
	tester.Identify = func(ctx context.Context) (s3.Identity, error) {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("identity lookup without a deadline")
		}
		if answer != nil {
			return s3.Identity{}, answer
		}
		return s3.Identity{Principal: "arn:aws:iam::111122223333:user/relay"}, nil
	}
	ctx := context.Background()

	steps := []struct {
		advance   time.Duration
		answer    error
		wantCalls int
		wantErr   bool
	}{
		{0, errors.New("no credentials"), 1, true},
		{30 * time.Second, nil, 1, true},  // a failure is remembered for a minute
		{31 * time.Second, nil, 2, false}, // then asked again
		{59 * time.Minute, nil, 2, false}, // a found identity is kept for an hour
		{2 * time.Minute, nil, 3, false},  // then refreshed
		{0, errors.New("gone"), 3, false}, // still cached
		{61 * time.Minute, errors.New("gone"), 4, true},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		answer = st.answer
		id, err := tester.ServerIdentity(ctx)
		if calls != st.wantCalls || (err != nil) != st.wantErr {
			t.Fatalf("step %d: got %d lookups, err %v; want %d lookups, error %v", i, calls, err, st.wantCalls, st.wantErr)
		}
		if err == nil && id.Principal != "arn:aws:iam::111122223333:user/relay" {
			t.Errorf("step %d: principal %q", i, id.Principal)
		}
	}

	// A lookup abandoned by its caller is not remembered.
	now = now.Add(2 * time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	answer = context.Canceled
	if _, err := tester.ServerIdentity(cctx); err == nil {
		t.Fatal("canceled lookup: want its error")
	}
	answer = nil
	if _, err := tester.ServerIdentity(ctx); err != nil || calls != 6 {
		t.Errorf("after a canceled lookup: got %d lookups, err %v; want a fresh lookup", calls, err)
	}
}

func TestTesterNotFound(t *testing.T) {
	now := time.Now()
	tester := delivery.NewTester(mustTesterDB(t, &now), &s3.Factory{})
	if _, err := tester.Test(context.Background(), "dst_missing"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("Test of a missing destination: got %v, want not found", err)
	}
}

func TestForgetDropsTheSharedClient(t *testing.T) {
	now := time.Now()
	clients := &s3.Factory{}
	tester := delivery.NewTester(mustTesterDB(t, &now), clients)
	cfg := s3.Config{Bucket: "b", Region: "us-east-1", Auth: s3.AuthKeys, AccessKey: "k", Secret: "s"}
	ctx := context.Background()
	first, err := clients.Client(ctx, "dst_1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := clients.Client(ctx, "dst_1", cfg); again != first {
		t.Fatal("the factory built a second client for an unchanged destination")
	}
	tester.Forget("dst_1")
	if after, _ := clients.Client(ctx, "dst_1", cfg); after == first {
		t.Error("after Forget: got the old client, want a new one")
	}
}
