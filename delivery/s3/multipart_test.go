package s3_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

func TestPutLargeFileInParts(t *testing.T) {
	mi := miniotest.Start(t)
	miniotest.IsolateAWSEnv(t)
	mi.MustCreateBucket(t, "big")
	oldThreshold, oldPart := s3.MultipartThreshold, s3.PartSize
	s3.MultipartThreshold, s3.PartSize = 6<<20, 5<<20 // S3's smallest part is 5 MiB
	t.Cleanup(func() { s3.MultipartThreshold, s3.PartSize = oldThreshold, oldPart })

	ctx := context.Background()
	client, err := s3.New(ctx, s3.Config{Bucket: "big", Region: mi.Region, Auth: s3.AuthKeys, Endpoint: mi.Endpoint, ForcePathStyle: true,
		AccessKey: mi.AccessKey, Secret: mi.SecretKey, StorageClass: "STANDARD"})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16+1000) // 12 MiB and a bit: three parts
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := client.Put(ctx, s3.PutInput{Key: "large/file.csv", Body: f, ContentType: "text/csv", Metadata: map[string]string{"event-id": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ETag == "" {
		t.Error("no ETag")
	}
	if got := mi.MustGetObject(t, "big", "large/file.csv"); !bytes.Equal(got, data) {
		t.Fatalf("object has %d bytes, want the %d written", len(got), len(data))
	}
	// Completing a second upload of the same key is refused: no overwrite.
	if _, err := client.Put(ctx, s3.PutInput{Key: "large/file.csv", Body: bytes.NewReader(data)}); !errors.Is(err, s3.ErrAlreadyExists) {
		t.Errorf("second multipart upload of the key: err = %v, want ErrAlreadyExists", err)
	}
	if got := mi.MustGetObject(t, "big", "large/file.csv"); !bytes.Equal(got, data) {
		t.Error("the object changed")
	}
}
