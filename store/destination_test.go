package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

func validDestination() *store.Destination {
	return &store.Destination{
		Name: "Warehouse raw",
		Config: store.DestinationConfig{
			Bucket: "my-events", Region: "us-east-1", Auth: store.AuthRole,
			RoleARN: "arn:aws:iam::123456789012:role/s3relay-writer",
		},
	}
}

func TestDestinationValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(d *store.Destination)
		field string // "" when valid
	}{
		{"valid role", func(d *store.Destination) {}, ""},
		{"role with path", func(d *store.Destination) { d.Config.RoleARN = "arn:aws:iam::123456789012:role/service/s3relay" }, ""},
		{"no name", func(d *store.Destination) { d.Name = " " }, "name"},
		{"long name", func(d *store.Destination) { d.Name = strings.Repeat("n", 101) }, "name"},
		{"wrong type", func(d *store.Destination) { d.Type = "gcs" }, "type"},
		{"no bucket", func(d *store.Destination) { d.Config.Bucket = "" }, "bucket"},
		{"short bucket", func(d *store.Destination) { d.Config.Bucket = "ab" }, "bucket"},
		{"long bucket", func(d *store.Destination) { d.Config.Bucket = strings.Repeat("a", 64) }, "bucket"},
		{"uppercase bucket", func(d *store.Destination) { d.Config.Bucket = "My-Events" }, "bucket"},
		{"underscore bucket", func(d *store.Destination) { d.Config.Bucket = "my_events" }, "bucket"},
		{"bucket starts with hyphen", func(d *store.Destination) { d.Config.Bucket = "-events" }, "bucket"},
		{"bucket with two dots", func(d *store.Destination) { d.Config.Bucket = "my..events" }, "bucket"},
		{"bucket like an IP", func(d *store.Destination) { d.Config.Bucket = "192.168.1.1" }, "bucket"},
		{"bucket reserved prefix", func(d *store.Destination) { d.Config.Bucket = "xn--events" }, "bucket"},
		{"bucket reserved suffix", func(d *store.Destination) { d.Config.Bucket = "events-s3alias" }, "bucket"},
		{"bucket with dots", func(d *store.Destination) { d.Config.Bucket = "events.example.com" }, ""},
		{"no region", func(d *store.Destination) { d.Config.Region = "" }, "region"},
		{"unknown region", func(d *store.Destination) { d.Config.Region = "us-east-9" }, "region"},
		{"any region with endpoint", func(d *store.Destination) {
			d.Config.Endpoint, d.Config.Region, d.Config.Auth, d.Config.RoleARN = "http://127.0.0.1:9000", "local", store.AuthKeys, ""
			d.Credentials = store.Credentials{Key: "minioadmin", Secret: "minioadmin"}
		}, ""},
		{"bad region with endpoint", func(d *store.Destination) {
			d.Config.Endpoint, d.Config.Region = "http://127.0.0.1:9000", "Local Region"
		}, "region"},
		{"no auth", func(d *store.Destination) { d.Config.Auth = "" }, "auth"},
		{"bad auth", func(d *store.Destination) { d.Config.Auth = "password" }, "auth"},
		{"role without ARN", func(d *store.Destination) { d.Config.RoleARN = "" }, "role_arn"},
		{"ARN of a user", func(d *store.Destination) { d.Config.RoleARN = "arn:aws:iam::123456789012:user/bob" }, "role_arn"},
		{"ARN with short account", func(d *store.Destination) { d.Config.RoleARN = "arn:aws:iam::12345:role/x" }, "role_arn"},
		{"ARN of another partition", func(d *store.Destination) { d.Config.RoleARN = "arn:aws-cn:iam::123456789012:role/x" }, "role_arn"},
		{"China ARN and region", func(d *store.Destination) {
			d.Config.RoleARN, d.Config.Region = "arn:aws-cn:iam::123456789012:role/x", "cn-north-1"
		}, ""},
		{"GovCloud ARN and region", func(d *store.Destination) {
			d.Config.RoleARN, d.Config.Region = "arn:aws-us-gov:iam::123456789012:role/x", "us-gov-west-1"
		}, ""},
		{"ARN with keys", func(d *store.Destination) {
			d.Config.Auth = store.AuthKeys
			d.Credentials = store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "s"}
		}, "role_arn"},
		{"bad external ID", func(d *store.Destination) { d.Credentials.ExternalID = "has spaces in it" }, "external_id"},
		{"bad access key", func(d *store.Destination) {
			d.Config.Auth, d.Config.RoleARN = store.AuthKeys, ""
			d.Credentials = store.Credentials{Key: "not a key", Secret: "s"}
		}, "key"},
		{"secret on two lines", func(d *store.Destination) {
			d.Config.Auth, d.Config.RoleARN = store.AuthKeys, ""
			d.Credentials = store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "a\nb"}
		}, "secret"},
		{"default auth", func(d *store.Destination) { d.Config.Auth, d.Config.RoleARN = store.AuthDefault, "" }, ""},
		{"default auth with endpoint", func(d *store.Destination) {
			d.Config.Auth, d.Config.RoleARN, d.Config.Endpoint = store.AuthDefault, "", "https://storage.example.com"
		}, "auth"},
		{"role with endpoint", func(d *store.Destination) { d.Config.Endpoint = "https://storage.example.com" }, ""},
		{"endpoint not a URL", func(d *store.Destination) { d.Config.Endpoint = "minio:9000" }, "endpoint"},
		{"endpoint ftp", func(d *store.Destination) { d.Config.Endpoint = "ftp://host" }, "endpoint"},
		{"endpoint with path", func(d *store.Destination) { d.Config.Endpoint = "http://host:9000/my-events" }, "endpoint"},
		{"endpoint with credentials", func(d *store.Destination) { d.Config.Endpoint = "http://a:b@host:9000" }, "endpoint"},
		{"storage class", func(d *store.Destination) { d.Config.StorageClass = "GLACIER_IR" }, ""},
		{"bad storage class", func(d *store.Destination) { d.Config.StorageClass = "COLD" }, "storage_class"},
		{"sse s3", func(d *store.Destination) { d.Config.ServerSideEncryption = "AES256" }, ""},
		{"sse kms with alias", func(d *store.Destination) {
			d.Config.ServerSideEncryption, d.Config.KMSKeyID = "aws:kms", "alias/s3relay"
		}, ""},
		{"sse kms with arn", func(d *store.Destination) {
			d.Config.ServerSideEncryption, d.Config.KMSKeyID = "aws:kms", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}, ""},
		{"bad sse", func(d *store.Destination) { d.Config.ServerSideEncryption = "aes" }, "server_side_encryption"},
		{"kms key without kms", func(d *store.Destination) { d.Config.KMSKeyID = "alias/x" }, "kms_key_id"},
		{"bad kms key", func(d *store.Destination) { d.Config.ServerSideEncryption, d.Config.KMSKeyID = "aws:kms", "my key" }, "kms_key_id"},
		{"prefix", func(d *store.Destination) { d.Config.PathPrefix = "events/raw/" }, ""},
		{"prefix with leading slash", func(d *store.Destination) { d.Config.PathPrefix = "/events/" }, "path_prefix"},
		{"prefix with //", func(d *store.Destination) { d.Config.PathPrefix = "events//raw/" }, "path_prefix"},
		{"prefix with ..", func(d *store.Destination) { d.Config.PathPrefix = "events/../raw/" }, "path_prefix"},
		{"prefix with newline", func(d *store.Destination) { d.Config.PathPrefix = "a\nb/" }, "path_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDestination()
			tt.edit(d)
			err := d.Validate()
			if got := store.ErrorField(err); got != tt.field || (tt.field != "" && store.ErrorMessage(err) == "") {
				t.Errorf("field = %q (%v), want %q", got, err, tt.field)
			}
		})
	}
}

func TestDestinationEndpointCheck(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	var checked []string
	db.UseEndpointCheck(func(endpoint string) error {
		checked = append(checked, endpoint)
		if strings.Contains(endpoint, "10.0.0.5") {
			return errors.New("10.0.0.5 is a private address.")
		}
		return nil
	})
	d := validDestination()
	d.Config.Endpoint = "http://10.0.0.5:9000"
	err := db.CreateDestination(ctx, d)
	if store.ErrorField(err) != "endpoint" || !strings.Contains(store.ErrorMessage(err), "10.0.0.5 is a private address.") {
		t.Fatalf("create: got %v, want a field error on endpoint with the check's message", err)
	}
	d.Config.Endpoint = "http://minio.internal:9000"
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatalf("create with an allowed endpoint: %v", err)
	}
	d.Config.Endpoint = "http://10.0.0.5:9000"
	if err := db.UpdateDestination(ctx, d); store.ErrorField(err) != "endpoint" {
		t.Errorf("update: got %v, want a field error on endpoint", err)
	}
	d.Config.Endpoint = ""
	if err := db.UpdateDestination(ctx, d); err != nil {
		t.Errorf("update without endpoint: %v", err)
	}
	if want := []string{"http://10.0.0.5:9000", "http://minio.internal:9000", "http://10.0.0.5:9000"}; !slices.Equal(checked, want) {
		t.Errorf("checked: got %q, want %q (AWS destinations are not checked)", checked, want)
	}
}

func TestDestinationSecretsAreSealedAndKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "s3relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := store.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	db.UseKeys(keys)
	src := MustSource(t, db, "web")
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	d := validDestination()
	d.Config.Auth, d.Config.RoleARN = store.AuthKeys, ""
	d.SourceIDs = []string{src.ID}
	d.Credentials = store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: secret, Session: "session-token-value"}
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	// Edit with blank secrets: the stored ones stay.
	d.Name, d.Credentials = "Renamed", store.Credentials{}
	if err := db.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := db.DestinationByID(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Renamed" || got.Credentials.Secret != secret || got.Credentials.Key != "AKIAIOSFODNN7EXAMPLE" || got.Credentials.Session != "session-token-value" {
		t.Errorf("after a blank edit: %+v", got.Credentials)
	}
	if len(got.SourceIDs) != 1 || got.SourceIDs[0] != src.ID {
		t.Errorf("SourceIDs = %v", got.SourceIDs)
	}
	db.Close()
	for _, f := range []string{"s3relay.db", "s3relay.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, plain := range []string{secret, "session-token-value", "AKIAIOSFODNN7EXAMPLE"} {
			if bytes.Contains(b, []byte(plain)) {
				t.Errorf("%s contains %q in plain text", f, plain)
			}
		}
	}
}

func TestDestinationRules(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	d := validDestination()
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if len(d.Credentials.ExternalID) < 32 {
		t.Errorf("generated external ID %q is shorter than 32", d.Credentials.ExternalID)
	}
	other := validDestination()
	if err := db.CreateDestination(ctx, other); err != nil {
		t.Fatal(err)
	}
	if other.Credentials.ExternalID == d.Credentials.ExternalID {
		t.Error("two destinations got the same external ID")
	}
	keysMode := validDestination()
	keysMode.Config.Auth, keysMode.Config.RoleARN = store.AuthKeys, ""
	keysMode.Credentials = store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE"}
	if err := db.CreateDestination(ctx, keysMode); store.ErrorField(err) != "secret" {
		t.Errorf("keys without a secret: %v", err)
	}
	bad := validDestination()
	bad.SourceIDs = []string{"src_missing"}
	if err := db.CreateDestination(ctx, bad); store.ErrorField(err) != "source_ids" {
		t.Errorf("unknown source: %v", err)
	}
	if err := db.RecordTest(ctx, d.ID, store.TestResult{OK: true}); err != nil {
		t.Fatal(err)
	}
	got, _ := db.DestinationByID(ctx, d.ID)
	if got.Health != store.HealthHealthy || got.LastTest == nil || !got.LastTest.OK {
		t.Errorf("after a passing test: health %q last test %+v", got.Health, got.LastTest)
	}
	if err := db.DeleteDestination(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DestinationByID(ctx, d.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("after delete: %v", err)
	}
}

func TestMappingLimitAndCursor(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	d := validDestination()
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < store.MaxMappings; i++ {
		if err := db.CreateMapping(ctx, &store.Mapping{DestinationID: d.ID, Name: "m", Enabled: true}); err != nil {
			t.Fatalf("mapping %d: %v", i+1, err)
		}
	}
	if err := db.CreateMapping(ctx, &store.Mapping{DestinationID: d.ID, Name: "m51"}); store.ErrorCode(err) != store.ELIMIT {
		t.Errorf("51st mapping: %v, want limit", err)
	}
	ms, err := db.ListMappings(ctx, d.ID)
	if err != nil || len(ms) != store.MaxMappings {
		t.Fatalf("ListMappings = %d, %v", len(ms), err)
	}
	other := validDestination()
	if err := db.CreateDestination(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateMapping(ctx, &store.Mapping{DestinationID: other.ID, Name: "other"}); err != nil {
		t.Fatal(err)
	}
	byDest, err := db.MappingsByDestination(ctx)
	if err != nil || len(byDest) != 2 || len(byDest[d.ID]) != store.MaxMappings || len(byDest[other.ID]) != 1 || byDest[other.ID][0].Name != "other" {
		t.Fatalf("MappingsByDestination = %d destinations, %v", len(byDest), err)
	}
	for i, m := range byDest[d.ID] {
		if m.ID != ms[i].ID {
			t.Fatalf("MappingsByDestination[%d] = %s, want %s in ListMappings order", i, m.ID, ms[i].ID)
		}
	}
	m := ms[0]
	if m.Trigger != store.DefaultTrigger || m.Format != "csv" || m.BatchSize != 1000 || m.Delimiter != "," {
		t.Errorf("defaults = %+v", m)
	}
	for _, tt := range []struct {
		edit  func(*store.Mapping)
		field string
	}{
		{func(m *store.Mapping) { m.Format = "xml" }, "format"},
		{func(m *store.Mapping) { m.BatchSize = -1 }, "batch_size"},
		{func(m *store.Mapping) { m.BatchMaxBytes = 10 }, "batch_max_bytes"},
		{func(m *store.Mapping) { m.BatchMaxAgeSeconds = 100000 }, "batch_max_age_seconds"},
		{func(m *store.Mapping) { m.Compression = "zip" }, "compression"},
		{func(m *store.Mapping) { m.Name = "" }, "name"},
	} {
		c := *m
		tt.edit(&c)
		if err := db.UpdateMapping(ctx, &c); store.ErrorField(err) != tt.field {
			t.Errorf("field %s: err %v", tt.field, err)
		}
	}
	if err := db.CreateMapping(ctx, &store.Mapping{DestinationID: "dst_missing", Name: "x"}); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("mapping of a missing destination: %v", err)
	}
}

func TestSwitchingAwayFromKeysDropsThem(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	keys, _ := store.LoadKeys(t.TempDir())
	db.UseKeys(keys)
	d := validDestination()
	d.Config.Auth, d.Config.RoleARN = store.AuthKeys, ""
	d.Credentials = store.Credentials{Key: "AKIAIOSFODNN7EXAMPLE", Secret: "secret", Session: "token"}
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Config.Auth, d.Config.RoleARN = store.AuthRole, "arn:aws:iam::123456789012:role/x"
	d.Credentials = store.Credentials{}
	if err := db.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := db.DestinationByID(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Credentials.Key != "" || got.Credentials.Secret != "" || got.Credentials.Session != "" || got.Credentials.ExternalID == "" {
		t.Errorf("after switching to role: %+v, want keys gone and an external ID", got.Credentials)
	}
	// Back to keys: the old ones are gone, so new ones are required.
	got.Config.Auth, got.Config.RoleARN, got.Credentials = store.AuthKeys, "", store.Credentials{}
	if err := db.UpdateDestination(ctx, got); store.ErrorField(err) != "key" {
		t.Errorf("keys mode without keys: %v, want a key error", err)
	}
}

func TestBucketSuggestion(t *testing.T) {
	if msg := store.ErrorMessage(store.ValidateBucket("My-Events")); !strings.Contains(msg, `"my-events"`) {
		t.Errorf("message %q, want the lowercase suggestion", msg)
	}
	if msg := store.ErrorMessage(store.ValidateBucket("Bad_Name")); strings.Contains(msg, "try") {
		t.Errorf("message %q suggests a name that is invalid too", msg)
	}
}
