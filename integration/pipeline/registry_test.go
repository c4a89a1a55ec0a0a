package pipeline_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// registry reads images straight from the harness registry over HTTP, so the
// tests check what a puller would get.
type registry struct{ host string }

var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

type manifest struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		Digest   string `json:"digest"`
		Platform *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	} `json:"manifests"`
	Layers []struct {
		Digest    string `json:"digest"`
		MediaType string `json:"mediaType"`
	} `json:"layers"`
}

func (r registry) get(path, accept string) ([]byte, string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.host+"/v2/"+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, resp.Header.Get("Docker-Content-Digest"), err
}

// digest returns the digest the registry holds for repo:tag, or an error.
func (r registry) digest(repo, tag string) (string, error) {
	_, d, err := r.get(repo+"/manifests/"+tag, manifestTypes)
	return d, err
}

// file returns the content of path in the image repo:ref (a tag or digest),
// reading layers top-down as the runtime would see them.
func (r registry) file(repo, ref, path string) (string, error) {
	body, _, err := r.get(repo+"/manifests/"+ref, manifestTypes)
	if err != nil {
		return "", err
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return "", err
	}
	if len(m.Manifests) > 0 {
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Platform.OS != "unknown" {
				return r.file(repo, d.Digest, path)
			}
		}
		return "", errors.New("index without an image manifest")
	}
	want := strings.TrimPrefix(path, "/")
	found, content := false, ""
	for _, l := range m.Layers {
		blob, _, err := r.get(repo+"/blobs/"+l.Digest, "")
		if err != nil {
			return "", err
		}
		zr, err := gzip.NewReader(strings.NewReader(string(blob)))
		if err != nil {
			return "", fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", err
			}
			if strings.TrimPrefix(h.Name, "./") == want {
				b, _ := io.ReadAll(tr)
				found, content = true, string(b)
			}
		}
	}
	if !found {
		return "", fmt.Errorf("%s not in %s:%s", path, repo, ref)
	}
	return content, nil
}

func mustFile(t *testing.T, r registry, repo, ref, path string) string {
	t.Helper()
	s, err := r.file(repo, ref, path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
