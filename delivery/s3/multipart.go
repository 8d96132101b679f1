package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Multipart upload sizes. Files above MultipartThreshold go in parts of
// PartSize, read from the file one part at a time: memory stays bounded and
// a network error costs one part, not the file.
var (
	MultipartThreshold int64 = 64 << 20
	PartSize           int64 = 16 << 20
)

// putMultipart uploads a large body in parts and completes it with
// If-None-Match: *, so it never overwrites an object either. On failure
// the upload is aborted, leaving no parts behind to bill for.
func (c *Client) putMultipart(ctx context.Context, in PutInput, size int64) (PutResult, error) {
	start := time.Now()
	res := PutResult{}
	h := c.headers(in)
	create := &awss3.CreateMultipartUploadInput{
		Bucket:            aws.String(c.cfg.Bucket),
		Key:               aws.String(in.Key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		Metadata:          in.Metadata,
		ContentType:       h.contentType, ContentEncoding: h.contentEncoding,
		StorageClass: h.storageClass, ServerSideEncryption: h.sse, SSEKMSKeyId: h.kmsKeyID,
	}
	fail := func(op string, err error) (PutResult, error) {
		res.Duration = time.Since(start)
		res.HTTPStatus, res.RequestID = responseInfo(err)
		if res.HTTPStatus == http.StatusPreconditionFailed {
			err = fmt.Errorf("%w: %w", ErrAlreadyExists, err)
		}
		return res, &opError{op: op, key: in.Key, cfg: c.cfg, err: err}
	}
	up, err := c.api.CreateMultipartUpload(ctx, create)
	if err != nil {
		return fail("put", err)
	}
	abort := func() {
		// Best effort, and not bound to ctx: a cancelled attempt still cleans up.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.api.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{Bucket: up.Bucket, Key: up.Key, UploadId: up.UploadId})
	}
	var parts []types.CompletedPart
	// A file is read part by part in place; other bodies through one buffer.
	at, isFile := in.Body.(io.ReaderAt)
	var buf []byte
	if !isFile {
		buf = make([]byte, PartSize)
		if _, err := in.Body.Seek(0, io.SeekStart); err != nil {
			abort()
			return fail("put", err)
		}
	}
	for n := int32(1); int64(n-1)*PartSize < size; n++ {
		off := int64(n-1) * PartSize
		length := min(PartSize, size-off)
		var body io.ReadSeeker
		if isFile {
			body = io.NewSectionReader(at, off, length)
		} else {
			chunk := buf[:length]
			if _, err := io.ReadFull(in.Body, chunk); err != nil {
				abort()
				return fail("put", fmt.Errorf("read part %d: %w", n, err))
			}
			body = bytes.NewReader(chunk)
		}
		out, err := c.api.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: up.Bucket, Key: up.Key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: body, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		if err != nil {
			abort()
			return fail("put", err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
	}
	done, err := c.api.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: up.Bucket, Key: up.Key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     aws.String("*"),
	})
	if err != nil {
		abort()
		return fail("put", err)
	}
	res.Duration = time.Since(start)
	res.ETag = aws.ToString(done.ETag)
	res.RequestID, _ = awsmiddleware.GetRequestIDMetadata(done.ResultMetadata)
	res.HTTPStatus = http.StatusOK
	return res, nil
}
