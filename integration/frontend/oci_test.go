package frontend_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// fileEntry is one path of an image's merged file system.
type fileEntry struct {
	Type     byte
	Mode     int64
	UID, GID int
	Link     string
	Data     string
}

// image is an OCI layout written by an oci exporter with tar=false.
type image struct {
	Index    ocispecs.Index
	Desc     ocispecs.Descriptor // the manifest's descriptor in the index
	Manifest ocispecs.Manifest
	Config   ocispecs.Image
	Files    map[string]fileEntry
	dir      string
}

func readBlob(t *testing.T, dir string, d digest.Digest) []byte {
	t.Helper()
	dt, err := os.ReadFile(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

func loadImage(t *testing.T, dir string) *image {
	t.Helper()
	img := &image{dir: dir, Files: map[string]fileEntry{}}
	dt, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, &img.Index); err != nil {
		t.Fatal(err)
	}
	if len(img.Index.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(img.Index.Manifests))
	}
	img.Desc = img.Index.Manifests[0]
	if img.Desc.MediaType == ocispecs.MediaTypeImageIndex || strings.Contains(img.Desc.MediaType, "manifest.list") {
		// A nested index (buildx with attestations): take its first image.
		var idx ocispecs.Index
		if err := json.Unmarshal(readBlob(t, dir, img.Desc.Digest), &idx); err != nil {
			t.Fatal(err)
		}
		for _, m := range idx.Manifests {
			if m.Annotations["vnd.docker.reference.type"] == "" {
				img.Desc = m
				break
			}
		}
	}
	if err := json.Unmarshal(readBlob(t, dir, img.Desc.Digest), &img.Manifest); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(readBlob(t, dir, img.Manifest.Config.Digest), &img.Config); err != nil {
		t.Fatal(err)
	}
	for _, l := range img.Manifest.Layers {
		img.applyLayer(t, l)
	}
	return img
}

func (img *image) applyLayer(t *testing.T, l ocispecs.Descriptor) {
	t.Helper()
	f, err := os.Open(filepath.Join(img.dir, "blobs", l.Digest.Algorithm().String(), l.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.Contains(l.MediaType, "gzip") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(strings.TrimPrefix(path.Clean("/"+h.Name), "/"), "/")
		base := path.Base(name)
		if base == ".wh..wh..opq" {
			dir := path.Dir(name)
			for p := range img.Files {
				if strings.HasPrefix(p, dir+"/") {
					delete(img.Files, p)
				}
			}
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			target := path.Join(path.Dir(name), strings.TrimPrefix(base, ".wh."))
			for p := range img.Files {
				if p == target || strings.HasPrefix(p, target+"/") {
					delete(img.Files, p)
				}
			}
			continue
		}
		e := fileEntry{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Link: h.Linkname}
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			e.Data = string(b)
		}
		img.Files[name] = e
	}
}

func (img *image) file(t *testing.T, p string) fileEntry {
	t.Helper()
	e, ok := img.Files[p]
	if !ok {
		t.Fatalf("image has no %s", p)
	}
	return e
}
