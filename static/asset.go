package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"sync"
)

var (
	hashesOnce sync.Once
	hashes     map[string]string
)

// Hash returns a static file's content hash ("" for an unknown name): the
// version in Path's query, and the file's ETag.
func Hash(name string) string {
	Path(name)
	return hashes[name]
}

// Path returns the URL of a static file with a content hash in its query, so
// browsers may cache it for good and still see every new release.
func Path(name string) string {
	hashesOnce.Do(func() {
		hashes = map[string]string{}
		fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(FS, p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			hashes[p] = hex.EncodeToString(sum[:6])
			return nil
		})
	})
	if h, ok := hashes[name]; ok {
		return "/static/" + name + "?v=" + h
	}
	return "/static/" + name
}
