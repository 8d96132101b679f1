package s3_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Principal map[string]string
		Action    string
		Resource  string
		Condition map[string]map[string]string
	}
}

// MustParsePolicy parses a generated policy or fails the test.
func MustParsePolicy(tb testing.TB, doc string) policy {
	tb.Helper()
	var p policy
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("parse policy: %v\n%s", err, doc)
	}
	if p.Version != "2012-10-17" {
		tb.Errorf("version: got %q, want 2012-10-17", p.Version)
	}
	return p
}

func TestTrustPolicy(t *testing.T) {
	tests := []struct {
		principal, want string
	}{
		{"arn:aws:iam::111122223333:role/relay-server", "arn:aws:iam::111122223333:role/relay-server"},
		{"", s3.PrincipalPlaceholder},
	}
	for _, tt := range tests {
		p := MustParsePolicy(t, s3.TrustPolicy(tt.principal, "ext-<&>-id"))
		if len(p.Statement) != 1 {
			t.Fatalf("statements: got %d, want 1", len(p.Statement))
		}
		st := p.Statement[0]
		if st.Effect != "Allow" || st.Action != "sts:AssumeRole" || st.Principal["AWS"] != tt.want {
			t.Errorf("statement: got %+v, want Allow sts:AssumeRole for %s", st, tt.want)
		}
		if got, want := st.Condition["StringEquals"]["sts:ExternalId"], "ext-<&>-id"; got != want {
			t.Errorf("external id condition: got %q, want %q", got, want)
		}
	}
	if doc := s3.TrustPolicy("p", "<x>"); !strings.Contains(doc, `"<x>"`) || !strings.Contains(doc, "\n  ") {
		t.Errorf("got %s, want pretty JSON without HTML escapes", doc)
	}
}

func TestPermissionPolicy(t *testing.T) {
	type stmt struct{ action, resource, condition string }
	put := stmt{"s3:PutObject", "arn:aws:s3:::events/raw/*", ""}
	del := stmt{"s3:DeleteObject", "arn:aws:s3:::events/raw/s3relay-connection-test/*", ""}
	tests := []struct {
		name     string
		prefix   string
		kms      bool
		kmsKeyID string
		want     []stmt
	}{
		{"no kms", "raw/", false, "", []stmt{put, del}},
		{"no prefix", "", false, "", []stmt{
			{"s3:PutObject", "arn:aws:s3:::events/*", ""},
			{"s3:DeleteObject", "arn:aws:s3:::events/s3relay-connection-test/*", ""},
		}},
		{"kms key arn", "raw/", true, "arn:aws:kms:eu-west-1:123456789012:key/1234abcd", []stmt{put, del,
			{"kms:GenerateDataKey", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd", ""}}},
		{"kms key id", "raw/", true, "1234abcd", []stmt{put, del, {"kms:GenerateDataKey", "arn:aws:kms:*:*:key/1234abcd", ""}}},
		{"kms alias", "raw/", true, "alias/events", []stmt{put, del, {"kms:GenerateDataKey", "*", "ForAnyValue:StringEquals kms:ResourceAliases=alias/events"}}},
		{"kms default key", "raw/", true, "", []stmt{put, del, {"kms:GenerateDataKey", "*", "StringLike kms:ViaService=s3.*.amazonaws.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustParsePolicy(t, s3.PermissionPolicy("events", tt.prefix, tt.kms, tt.kmsKeyID))
			var got []stmt
			for _, st := range p.Statement {
				if st.Effect != "Allow" {
					t.Errorf("%s: effect %q, want Allow", st.Action, st.Effect)
				}
				var cond []string
				for op, kv := range st.Condition {
					for k, v := range kv {
						cond = append(cond, op+" "+k+"="+v)
					}
				}
				got = append(got, stmt{st.Action, st.Resource, strings.Join(cond, ";")})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("statements:\ngot  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPrincipalARN(t *testing.T) {
	tests := []struct{ caller, want string }{
		{"arn:aws:sts::111122223333:assumed-role/relay-server/i-0abc", "arn:aws:iam::111122223333:role/relay-server"},
		{"arn:aws-cn:sts::111122223333:assumed-role/relay/session", "arn:aws-cn:iam::111122223333:role/relay"},
		{"arn:aws:iam::111122223333:user/relay", "arn:aws:iam::111122223333:user/relay"},
		{"arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:root"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := s3.PrincipalARN(tt.caller); got != tt.want {
			t.Errorf("PrincipalARN(%q): got %q, want %q", tt.caller, got, tt.want)
		}
	}
}

func TestCLICommandsRun(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// A stand-in for the AWS CLI that records each call's arguments, one per line.
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> \"$AWS_CALLS\"\necho -- >> \"$AWS_CALLS\"\n"
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := s3.Config{
		Bucket: "events", Region: "eu-west-1", Auth: s3.AuthRole, RoleARN: "arn:aws:iam::123456789012:role/team/s3relay-writer",
		ExternalID: "ext-123", PathPrefix: "raw/", SSE: s3.SSEKMS, KMSKeyID: "alias/events",
	}
	principal := "arn:aws:iam::111122223333:role/relay-server"
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", s3.CLICommands(cfg, principal))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "AWS_CALLS="+filepath.Join(dir, "calls"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run the commands: %v\n%s", err, out)
	}
	calls, err := os.ReadFile(filepath.Join(dir, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(calls), "--\n"), "--\n")
	want := []string{
		"iam\ncreate-role\n--role-name\ns3relay-writer\n--path\n/team/\n--assume-role-policy-document\nfile://s3relay-trust-policy.json\n",
		"iam\nput-role-policy\n--role-name\ns3relay-writer\n--policy-name\ns3relay-write\n--policy-document\nfile://s3relay-permission-policy.json\n",
	}
	if !slices.Equal(got, want) {
		t.Errorf("aws calls:\ngot  %q\nwant %q", got, want)
	}
	files := []struct{ name, want string }{
		{"s3relay-trust-policy.json", s3.TrustPolicy(principal, "ext-123")},
		{"s3relay-permission-policy.json", s3.PermissionPolicy("events", "raw/", true, "alias/events")},
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != f.want {
			t.Errorf("%s:\ngot  %s\nwant %s", f.name, got, f.want)
		}
	}
}

func TestCallerIdentity(t *testing.T) {
	srv := miniotest.Start(t)
	front := miniotest.StartSTS(t, srv, miniotest.STSConfig{CallerARN: "arn:aws:sts::111122223333:assumed-role/relay-server/i-0abc"})
	front.Setenv(t)
	id, err := s3.CallerIdentity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Identity{
		ARN: "arn:aws:sts::111122223333:assumed-role/relay-server/i-0abc", Account: "111122223333",
		UserID: front.AccessKey, Principal: "arn:aws:iam::111122223333:role/relay-server",
	}
	if id != want {
		t.Errorf("identity: got %+v, want %+v", id, want)
	}
}

func TestCallerIdentityWithoutCredentials(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	if _, err := s3.CallerIdentity(context.Background()); err == nil {
		t.Error("got an identity, want an error: the server has no credentials")
	}
}

func TestPermissionPolicyForUsesTheRegionsPartition(t *testing.T) {
	for region, want := range map[string]string{"us-east-1": "arn:aws:s3:::", "cn-north-1": "arn:aws-cn:s3:::", "us-gov-west-1": "arn:aws-us-gov:s3:::"} {
		p := s3.PermissionPolicyFor(s3.Config{Bucket: "events", Region: region, PathPrefix: "raw/"})
		if !strings.Contains(p, want+"events/raw/*") {
			t.Errorf("%s: policy does not name %sevents/raw/*:\n%s", region, want, p)
		}
	}
}
