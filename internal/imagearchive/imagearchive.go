// Package imagearchive reads what the image archives `zlayer image load`
// sends name and hold (a docker-save tar, an OCI archive tar, an OCI layout
// folder) without unpacking them, and tars a layout folder as it is sent.
package imagearchive

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Ref is one image an archive holds: its name as the archive gives it
// (empty: unnamed) and a digest the node knows it by, the manifest (or
// index) of an OCI archive, the config of a docker-save one.
type Ref struct {
	Name   string
	Digest string
}

// containerdName is the annotation containerd's import names images by;
// docker save and buildx's oci and docker exporters set it.
const containerdName = "io.containerd.image.name"

type dockerManifest struct {
	Config   string
	RepoTags []string
}

type ociIndex struct {
	Manifests []struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	} `json:"manifests"`
}

// TarRefs lists the images of an archive tar read from r. An archive with
// an oci-layout file is read as OCI (index.json), as the node's import
// reads it, else as docker save (manifest.json). Only those two small
// files are decoded; a seekable r skips the blobs without reading them.
func TarRefs(r io.Reader) ([]Ref, error) {
	tr := tar.NewReader(r)
	var layout bool
	var index, manifest []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive (a tar of docker save or an OCI export?): %w", err)
		}
		switch path.Clean(hdr.Name) {
		case "oci-layout":
			layout = true
		case "index.json":
			if index, err = readSmall(tr, hdr.Name); err != nil {
				return nil, err
			}
		case "manifest.json":
			if manifest, err = readSmall(tr, hdr.Name); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case layout && index != nil:
		return indexRefs(index)
	case layout:
		return nil, errors.New("the archive has an oci-layout but no index.json")
	case manifest != nil:
		return manifestRefs(manifest)
	}
	return nil, errors.New("not an image archive: it has neither an oci-layout nor a manifest.json (docker save)")
}

// LayoutRefs lists the images of an OCI layout folder.
func LayoutRefs(dir string) ([]Ref, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, fmt.Errorf("%s is not an OCI layout folder: %w", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return indexRefs(b)
}

// An index or manifest list of thousands of images is still far below this.
const maxIndexBytes = 16 << 20

func readSmall(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxIndexBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxIndexBytes {
		return nil, fmt.Errorf("%s is over %d bytes", name, maxIndexBytes)
	}
	return b, nil
}

func indexRefs(b []byte) ([]Ref, error) {
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	out := make([]Ref, 0, len(idx.Manifests))
	for _, m := range idx.Manifests {
		out = append(out, Ref{Name: m.Annotations[containerdName], Digest: m.Digest})
	}
	return out, nil
}

func manifestRefs(b []byte) ([]Ref, error) {
	var ms []dockerManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []Ref
	for _, m := range ms {
		// blobs/sha256/HEX (docker 25+) or HEX.json (older docker).
		d := strings.TrimSuffix(path.Base(m.Config), ".json")
		if alg := path.Base(path.Dir(m.Config)); alg != "." && alg != "/" {
			d = alg + ":" + d
		} else {
			d = "sha256:" + d
		}
		if len(m.RepoTags) == 0 {
			out = append(out, Ref{Digest: d})
		}
		for _, t := range m.RepoTags {
			out = append(out, Ref{Name: t, Digest: d})
		}
	}
	return out, nil
}

// TarLayout streams the OCI layout folder dir as a tar, written as it is
// read: nothing of the size of the image is held or written elsewhere.
// Symlinks are kept as links; other special files are refused.
func TarLayout(dir string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeLayout(dir, pw)) }()
	return pr
}

func writeLayout(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir(), info.Mode().IsRegular():
		default:
			return fmt.Errorf("%s: not a file, folder or symlink", p)
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		// Owners mean nothing to the import; leave them out.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("tar of %s: %w", dir, err)
	}
	return tw.Close()
}
