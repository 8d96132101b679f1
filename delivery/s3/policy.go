package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// PrincipalPlaceholder stands in the trust policy for the server's identity when it cannot be found;
// IAM rejects it, so a policy pasted without replacing it fails loudly instead of trusting the wrong
// principal.
const PrincipalPlaceholder = "arn:aws:iam::ACCOUNT_ID:role/ROLE_OF_THE_S3RELAY_SERVER"

// permissionPolicyName is the name of the inline policy CLICommands attaches to the role.
const permissionPolicyName = "s3relay-write"

type policyDocument struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal,omitempty"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// TrustPolicy returns the role's trust policy, pretty-printed: principalARN (PrincipalPlaceholder when
// empty) may call sts:AssumeRole when it sends externalID.
func TrustPolicy(principalARN, externalID string) string {
	if principalARN == "" {
		principalARN = PrincipalPlaceholder
	}
	return policyJSON(policyDocument{Version: "2012-10-17", Statement: []policyStatement{{
		Effect:    "Allow",
		Principal: map[string]string{"AWS": principalARN},
		Action:    "sts:AssumeRole",
		Condition: map[string]map[string]string{"StringEquals": {"sts:ExternalId": externalID}},
	}}})
}

// PermissionPolicy returns the least-privilege policy s3relay needs, pretty-printed, for the aws
// partition: s3:PutObject on <bucket>/<prefix>*, s3:DeleteObject on the connection test's probes only
// (optional: without it the test warns), and with kms, kms:GenerateDataKey on kmsKeyID (a key ARN, key
// id or alias; empty means the aws/s3 key, allowed through S3 only).
func PermissionPolicy(bucket, prefix string, kms bool, kmsKeyID string) string {
	return permissionPolicy("aws", bucket, prefix, kms, kmsKeyID)
}

// PermissionPolicyFor is PermissionPolicy for a destination, in the AWS
// partition of its region (aws, aws-cn or aws-us-gov).
func PermissionPolicyFor(cfg Config) string {
	return permissionPolicy(partition(cfg.Region), cfg.Bucket, cfg.PathPrefix, cfg.SSE == SSEKMS, cfg.KMSKeyID)
}

func permissionPolicy(part, bucket, prefix string, kms bool, kmsKeyID string) string {
	doc := policyDocument{Version: "2012-10-17", Statement: []policyStatement{
		{Sid: "WriteEventFiles", Effect: "Allow", Action: "s3:PutObject", Resource: objectARN(part, bucket, prefix+"*")},
		{Sid: "CleanUpConnectionTests", Effect: "Allow", Action: "s3:DeleteObject", Resource: objectARN(part, bucket, prefix+probeFolder+"*")},
	}}
	if kms {
		doc.Statement = append(doc.Statement, kmsStatement(part, kmsKeyID))
	}
	return policyJSON(doc)
}

func kmsStatement(part, keyID string) policyStatement {
	st := policyStatement{Sid: "EncryptWithKMS", Effect: "Allow", Action: "kms:GenerateDataKey"}
	switch {
	case strings.HasPrefix(keyID, "arn:"):
		st.Resource = keyID
	case strings.HasPrefix(keyID, "alias/"):
		// An alias cannot be a Resource; the statement matches the keys carrying it instead.
		st.Resource = "*"
		st.Condition = map[string]map[string]string{"ForAnyValue:StringEquals": {"kms:ResourceAliases": keyID}}
	case keyID != "":
		st.Resource = fmt.Sprintf("arn:%s:kms:*:*:key/%s", part, keyID)
	default:
		st.Resource = "*"
		st.Condition = map[string]map[string]string{"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
	}
	return st
}

// CLICommands returns a shell script of AWS CLI commands that create the role of cfg.RoleARN with the
// trust policy for principalARN and cfg.ExternalID, and attach the permission policy for cfg's bucket,
// path prefix and encryption. The policies are written to files with here-documents, so the JSON needs
// no quoting.
func CLICommands(cfg Config, principalARN string) string {
	name, path := roleNameAndPath(cfg.RoleARN)
	roleFlags := "--role-name " + shellQuote(name)
	createFlags := roleFlags
	if path != "/" {
		createFlags += " --path " + shellQuote(path)
	}
	part := partition(cfg.Region)
	if p := arnPartition(cfg.RoleARN); p != "" {
		part = p
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# 1. The role s3relay assumes: it trusts this server's identity when it sends the external ID.\n")
	fmt.Fprintf(&b, "cat > s3relay-trust-policy.json <<'EOF'\n%s\nEOF\n", TrustPolicy(principalARN, cfg.ExternalID))
	fmt.Fprintf(&b, "aws iam create-role %s --assume-role-policy-document file://s3relay-trust-policy.json\n", createFlags)
	fmt.Fprintf(&b, "# If the role exists already, update its trust policy instead:\n")
	fmt.Fprintf(&b, "# aws iam update-assume-role-policy %s --policy-document file://s3relay-trust-policy.json\n\n", roleFlags)
	fmt.Fprintf(&b, "# 2. What the role may do: write files under the path prefix.\n")
	fmt.Fprintf(&b, "cat > s3relay-permission-policy.json <<'EOF'\n%s\nEOF\n",
		permissionPolicy(part, cfg.Bucket, cfg.PathPrefix, cfg.SSE == SSEKMS, cfg.KMSKeyID))
	fmt.Fprintf(&b, "aws iam put-role-policy %s --policy-name %s --policy-document file://s3relay-permission-policy.json\n",
		roleFlags, permissionPolicyName)
	return b.String()
}

// Identity is the server's own AWS identity.
type Identity struct {
	// ARN is what sts:GetCallerIdentity reports, for example an assumed-role session ARN.
	ARN     string
	Account string
	UserID  string
	// Principal is the ARN to trust in a role's trust policy (see PrincipalARN).
	Principal string
}

// CallerIdentity asks sts:GetCallerIdentity, with the server's default credential chain and the
// standard AWS environment settings, who this server is. It needs no IAM permission but does need
// credentials; pass a context with a short deadline, since the chain may probe instance metadata.
func CallerIdentity(ctx context.Context) (Identity, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(1))
	if err != nil {
		return Identity{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		// GetCallerIdentity answers the same in every region; the SDK only needs one to sign.
		cfg.Region = "us-east-1"
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("get caller identity: %w", err)
	}
	arn := aws.ToString(out.Arn)
	return Identity{ARN: arn, Account: aws.ToString(out.Account), UserID: aws.ToString(out.UserId), Principal: PrincipalARN(arn)}, nil
}

// PrincipalARN returns the ARN to put in a trust policy for a caller ARN: an assumed-role session
// (arn:aws:sts::123456789012:assumed-role/Name/session) becomes its role (arn:aws:iam::123456789012:role/Name);
// other ARNs are returned as they are. A role created under an IAM path has that path in its ARN, which
// the session ARN does not show; such roles need the path added by hand.
func PrincipalARN(callerARN string) string {
	parts := strings.SplitN(callerARN, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return callerARN
	}
	role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role)
}

// roleNameAndPath splits arn:aws:iam::123456789012:role/path/name into its name and IAM path ("/" when
// none). An empty or malformed ARN gives a placeholder name.
func roleNameAndPath(roleARN string) (name, path string) {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || !strings.HasPrefix(parts[5], "role/") {
		return "s3relay-writer", "/"
	}
	rest := strings.TrimPrefix(parts[5], "role/")
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return rest, "/"
	}
	return rest[i+1:], "/" + rest[:i+1]
}

func arnPartition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" {
		return ""
	}
	return parts[1]
}

// partition returns the AWS partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

func objectARN(part, bucket, keyPattern string) string {
	return fmt.Sprintf("arn:%s:s3:::%s/%s", part, bucket, keyPattern)
}

func policyJSON(doc policyDocument) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	// Policies are pasted into the AWS console, where \u003c-style escapes would only confuse.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		// The document is made of strings and maps of strings, which always marshal.
		panic(fmt.Sprintf("marshal policy: %v", err))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
