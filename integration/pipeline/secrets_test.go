package pipeline_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// blobs returns every blob of repo:ref a puller would fetch: the manifests,
// the config (which holds the history) and each layer, decompressed.
func (r registry) blobs(t *testing.T, repo, ref string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	body, _, err := r.get(repo+"/manifests/"+ref, manifestTypes)
	if err != nil {
		t.Fatal(err)
	}
	out["manifest "+ref] = body
	var m struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		for k, v := range r.blobs(t, repo, d.Digest) {
			out[k] = v
		}
	}
	if m.Config.Digest != "" {
		cfg, _, err := r.get(repo+"/blobs/"+m.Config.Digest, "")
		if err != nil {
			t.Fatal(err)
		}
		out["config "+m.Config.Digest] = cfg
	}
	for _, l := range m.Layers {
		blob, _, err := r.get(repo+"/blobs/"+l.Digest, "")
		if err != nil {
			t.Fatal(err)
		}
		if zr, err := gzip.NewReader(bytes.NewReader(blob)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				blob = plain
			}
		}
		out["layer "+l.Digest] = blob
	}
	return out
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// checkSecretImage checks repo:1, whose run step wrote the hashes of the
// file secret to /f.sha and of the env secret to /e.sha: both hashes are
// right and no blob holds either value.
func checkSecretImage(t *testing.T, reg registry, repo, fileValue, envValue string) {
	t.Helper()
	for path, value := range map[string]string{"/f.sha": fileValue, "/e.sha": envValue} {
		if got := strings.TrimSpace(mustFile(t, reg, repo, "1", path)); got != hashOf(value) {
			t.Errorf("%s %q, want the secret's hash", path, got)
		}
	}
	checkNoSecrets(t, reg, repo, "1", fileValue, envValue)
}

// checkNoSecrets fails when any blob of repo:ref holds one of values.
func checkNoSecrets(t *testing.T, reg registry, repo, ref string, values ...string) {
	t.Helper()
	blobs := reg.blobs(t, repo, ref)
	if len(blobs) < 3 {
		t.Fatalf("%s:%s: only %d blobs", repo, ref, len(blobs))
	}
	for name, b := range blobs {
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s:%s: secret value in %s", repo, ref, name)
			}
		}
		if strings.HasPrefix(name, "layer ") && bytes.Contains(b, []byte("run/secrets/")) {
			t.Errorf("%s:%s: %s holds a /run/secrets entry", repo, ref, name)
		}
	}
}

// TestIntegrationBuildAndPipelineSecrets builds with `zlayer build --secret`
// (a Dockerfile, through buildx) and with a ZPipeline image's secrets:
// (a ZImagefile, through bake and the frontend image). Each run step hashes
// the secrets into the image; the pushed image holds the hashes and never
// the values.
func TestIntegrationBuildAndPipelineSecrets(t *testing.T) {
	s := start(t)
	_, feEnv := frontendEnv(t, s)
	reg := registry{s.Registry}
	fileValue, envValue := "file-"+nonce(t)+nonce(t), "env-"+nonce(t)+nonce(t)
	secrets := t.TempDir()
	secretFile := filepath.Join(secrets, "value.txt")
	if err := os.WriteFile(secretFile, []byte(fileValue), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"BUILDKIT_HOST=", "ZLAYER_TEST_SECRET=" + envValue}, feEnv...)

	t.Run("build", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n" +
			"RUN --mount=type=secret,id=f,required=true --mount=type=secret,id=e,env=E,required=true " +
			"sha256sum /run/secrets/f | cut -d' ' -f1 > /f.sha && printf %s \"$E\" | sha256sum | cut -d' ' -f1 > /e.sha\n"})
		tag := s.Registry + "/it/secret-build:1"
		r := zlayer(t, s, dir, env, "build", "--progress", "plain", "--no-cache", "-t", tag, "--push",
			"--secret", "id=f,src="+secretFile, "--secret", "id=e,env=ZLAYER_TEST_SECRET", ".")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		checkSecretImage(t, reg, "it/secret-build", fileValue, envValue)
	})

	t.Run("pipeline", func(t *testing.T) {
		dir := writeTree(t, map[string]string{
			"ZPipeline.yaml": "version: \"1\"\nimages:\n  app:\n    file: ZImagefile\n    no_cache: true\n" +
				"    tags: [\"" + s.Registry + "/it/secret-pipeline:1\"]\n" +
				"    secrets:\n      - {id: f, src: " + secretFile + "}\n      - id=e,env=ZLAYER_TEST_SECRET\n",
			"ZImagefile": "base: busybox\nsteps:\n  - run: |\n      sha256sum /etc/f | cut -d' ' -f1 > /f.sha\n" +
				"      printf %s \"$E\" | sha256sum | cut -d' ' -f1 > /e.sha\n" +
				"    secrets:\n      - {id: f, target: /etc/f, required: true}\n      - {id: e, env: E, required: true}\n",
		})
		r := zlayer(t, s, dir, env, "pipeline", "--no-tui", "--push")
		if r.code != 0 {
			t.Fatalf("pipeline exit %d", r.code)
		}
		checkSecretImage(t, reg, "it/secret-pipeline", fileValue, envValue)
		if _, err := reg.file("it/secret-pipeline", "1", "/etc/f"); err == nil {
			t.Error("the secret's mount target /etc/f is in the image")
		}
	})
}
