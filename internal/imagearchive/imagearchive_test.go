package imagearchive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func tarOf(t *testing.T, files map[string]string, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range order {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const index = `{"schemaVersion":2,"manifests":[
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaa","size":1,
  "annotations":{"io.containerd.image.name":"docker.io/library/app:1","org.opencontainers.image.ref.name":"1"}},
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbb","size":1}]}`

func TestTarRefsDockerSave(t *testing.T) {
	for name, cfg := range map[string]string{"old docker": "cccc.json", "docker 25+": "blobs/sha256/cccc"} {
		t.Run(name, func(t *testing.T) {
			b := tarOf(t, map[string]string{
				"manifest.json": `[{"Config":"` + cfg + `","RepoTags":["app:1","app:latest"],"Layers":["l/layer.tar"]},{"Config":"dddd.json"}]`,
				"l/layer.tar":   "x",
			}, "l/layer.tar", "manifest.json")
			got, err := TarRefs(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			want := []Ref{{"app:1", "sha256:cccc"}, {"app:latest", "sha256:cccc"}, {"", "sha256:dddd"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("refs %+v, want %+v", got, want)
			}
		})
	}
}

// A docker 25+ save has both files; the node's import reads it as OCI, so
// the refs are the index's.
func TestTarRefsOCIWins(t *testing.T) {
	b := tarOf(t, map[string]string{
		"oci-layout":    `{"imageLayoutVersion":"1.0.0"}`,
		"index.json":    index,
		"manifest.json": `[{"Config":"blobs/sha256/cccc","RepoTags":["app:1"]}]`,
	}, "manifest.json", "index.json", "oci-layout")
	got, err := TarRefs(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{{"docker.io/library/app:1", "sha256:aaaa"}, {"", "sha256:bbbb"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("refs %+v, want %+v", got, want)
	}
}

func TestTarRefsRefusesOthers(t *testing.T) {
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"plain tar":        {tarOf(t, map[string]string{"a.txt": "hi"}, "a.txt"), "not an image archive"},
		"layout, no index": {tarOf(t, map[string]string{"oci-layout": "{}"}, "oci-layout"), "no index.json"},
		"not a tar":        {[]byte(strings.Repeat("garbage!", 200)), "reading the archive"},
		"bad manifest":     {tarOf(t, map[string]string{"manifest.json": "{"}, "manifest.json"), "manifest.json"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := TarRefs(bytes.NewReader(c.b)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// A layout folder streamed by TarLayout is the archive of the same refs,
// with every file's bytes and a symlink kept.
func TestTarLayoutRoundTrip(t *testing.T) {
	dir := t.TempDir()
	blob := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blob, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": index, "blobs/sha256/aaaa": "manifest"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("aaaa", filepath.Join(blob, "link")); err != nil {
		t.Fatal(err)
	}
	fromDir, err := LayoutRefs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rc := TarLayout(dir)
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	fromTar, err := TarRefs(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromDir, fromTar) || len(fromDir) != 2 {
		t.Fatalf("folder refs %+v, tar refs %+v", fromDir, fromTar)
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files[hdr.Name] = string(body) + hdr.Linkname
	}
	if files["blobs/sha256/aaaa"] != "manifest" || files["blobs/sha256/link"] != "aaaa" || files["index.json"] != index {
		t.Fatalf("tar entries %q", files)
	}
	if _, ok := files["blobs/"]; !ok {
		t.Fatalf("folders missing from the tar: %q", files)
	}
}

func TestLayoutRefsNeedsALayout(t *testing.T) {
	if _, err := LayoutRefs(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an OCI layout folder") {
		t.Fatalf("err %v", err)
	}
}

// A folder that cannot be read ends the stream with the error, not with a
// short tar the node would take for a broken image.
func TestTarLayoutReportsErrors(t *testing.T) {
	_, err := io.ReadAll(TarLayout(filepath.Join(t.TempDir(), "missing")))
	if err == nil || !strings.Contains(err.Error(), "tar of") {
		t.Fatalf("err %v", err)
	}
}
