package frontend_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/subrequests/outline"
	"golang.org/x/crypto/ssh/agent"

	"github.com/zlayer/zlayer/integration/frontendimage"
	"github.com/zlayer/zlayer/pipeline/imagebuild"
)

// secretsZImagefile hashes a file secret and an env secret into the image and
// records the agent socket a run step sees; the values themselves must stay
// out of the image.
const secretsZImagefile = `# syntax=` + frontendimage.Syntax + `
base: busybox:latest
steps:
  - run: |
      test ! -e /run/secrets/token
      sha256sum /run/secrets/filesecret | cut -d' ' -f1 > /file.sha
      printf %s "$TOKEN" | sha256sum | cut -d' ' -f1 > /env.sha
    secrets:
      - {id: filesecret, required: true}
      - {id: token, env: TOKEN, required: true}
  - run: |
      test -S "$SSH_AUTH_SOCK"
      echo "$SSH_AUTH_SOCK" > /ssh.sock
    ssh: [default]
`

// startAgent serves an SSH agent holding a throwaway key on a socket, as
// `--ssh default=SOCKET` forwards it.
func startAgent(t *testing.T) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key, Comment: "zlayer-test"}); err != nil {
		t.Fatal(err)
	}
	// Short folder: unix socket paths are limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "zlag")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return sock
}

type secretBuild struct {
	dir, fileValue, envValue string
	opts                     imagebuild.Options
}

// newSecretBuild writes the ZImagefile and a secret file outside the build
// context, so the value could only reach the build through the session.
func newSecretBuild(t *testing.T, fx *frontendFixture) *secretBuild {
	b := &secretBuild{
		dir:       t.TempDir(),
		fileValue: "file-secret-" + hex.EncodeToString(randBytes(t)),
		envValue:  "env-secret-" + hex.EncodeToString(randBytes(t)),
	}
	writeFiles(t, b.dir, map[string]string{"ZImagefile": secretsZImagefile})
	secretFile := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secretFile, []byte(b.fileValue), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	b.opts = imagebuild.Options{
		// Secret values are not part of BuildKit's cache keys: without
		// --no-cache a second build would reuse the first one's steps.
		Context: b.dir, Progress: "plain", NoCache: true, Stdout: io.Discard, Stderr: &stderr,
		Secrets: []string{"id=filesecret,src=" + secretFile, "id=token,env=ZLAYER_TEST_TOKEN"},
		SSH:     []string{"default=" + startAgent(t)},
		Outputs: []string{"type=oci,dest=" + filepath.Join(t.TempDir(), "oci") + ",tar=false"},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("build output:\n%s", tail(stderr.String(), 40))
		}
	})
	return b
}

func randBytes(t *testing.T) []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// check reads the OCI layout the build wrote: the run steps saw both secrets
// and the agent, and no blob (layer, config with its history, manifest)
// holds either value or the secret file.
func (b *secretBuild) check(t *testing.T) {
	t.Helper()
	out := strings.TrimSuffix(strings.TrimPrefix(b.opts.Outputs[0], "type=oci,dest="), ",tar=false")
	img := loadImage(t, out)
	if got := strings.TrimSpace(img.file(t, "/file.sha").Data); got != sha(b.fileValue) {
		t.Errorf("file secret hash in the image %q, want %q", got, sha(b.fileValue))
	}
	if got := strings.TrimSpace(img.file(t, "/env.sha").Data); got != sha(b.envValue) {
		t.Errorf("env secret hash in the image %q, want %q", got, sha(b.envValue))
	}
	if got := strings.TrimSpace(img.file(t, "/ssh.sock").Data); got == "" {
		t.Error("the ssh step saw no SSH_AUTH_SOCK")
	}
	for p := range img.Files {
		if strings.HasPrefix(p, "/run/secrets") || strings.HasPrefix(p, "/run/buildkit") {
			t.Errorf("mount point %s left in the image", p)
		}
	}
	blobs, err := filepath.Glob(filepath.Join(out, "blobs", "*", "*"))
	if err != nil || len(blobs) < 3 {
		t.Fatalf("%d blobs, %v", len(blobs), err)
	}
	for _, f := range append(blobs, filepath.Join(out, "index.json")) {
		dt, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if zr, err := gzip.NewReader(bytes.NewReader(dt)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				dt = plain
			}
		}
		for _, v := range []string{b.fileValue, b.envValue} {
			if bytes.Contains(dt, []byte(v)) {
				t.Errorf("secret value found in %s", f)
			}
		}
	}
	// The history names the mounts (that is how BuildKit records a RUN),
	// never a value.
	for _, h := range img.Config.History {
		for _, v := range []string{b.fileValue, b.envValue} {
			if strings.Contains(h.CreatedBy, v) {
				t.Errorf("history %q holds a secret value", h.CreatedBy)
			}
		}
	}
}

// testInProcessSecrets is `zlayer build --addr`: the frontend runs here and
// the session serves the secrets and the agent.
func testInProcessSecrets(t *testing.T, fx *frontendFixture) {
	b := newSecretBuild(t, fx)
	t.Setenv("ZLAYER_TEST_TOKEN", b.envValue)
	b.opts.Addr = fx.s.BuildkitAddr
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := imagebuild.Build(ctx, b.opts); err != nil {
		t.Fatal(err)
	}
	b.check(t)
}

// testBuildxSecrets is `zlayer build` through stock buildx and the frontend
// image: buildx's own session carries --secret and --ssh.
func testBuildxSecrets(t *testing.T, fx *frontendFixture) {
	b := newSecretBuild(t, fx)
	b.opts.Builder = fx.s.BuilderName
	b.opts.Env = append(fx.s.Env(), "ZLAYER_TEST_TOKEN="+b.envValue)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := imagebuild.Build(ctx, b.opts); err != nil {
		t.Fatal(err)
	}
	b.check(t)
}

// testInProcessMissingSecret builds a step whose required secret was not
// given: the build fails and says which secret.
func testInProcessMissingSecret(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": "base: busybox:latest\nsteps:\n  - run: cat /run/secrets/deploy_key\n    secrets: [{id: deploy_key, required: true}]\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := imagebuild.Build(ctx, imagebuild.Options{Context: dir, Addr: fx.s.BuildkitAddr, Progress: "quiet", Stdout: io.Discard, Stderr: io.Discard})
	if err == nil {
		t.Fatal("a build missing a required secret succeeded")
	}
	var unreachable *imagebuild.UnreachableError
	if errors.As(err, &unreachable) || !strings.Contains(err.Error(), "build secret deploy_key was not given: pass --secret id=deploy_key,") {
		t.Errorf("error does not name the missing secret: %v", err)
	}
	t.Logf("what the user sees: %v", err)
}

// testInProcessOutlineSecrets is `buildx build --call outline`: it lists
// the secrets and agents a ZImagefile needs, placed on the ZImagefile's run
// step, so users learn which --secret flags to pass.
func testInProcessOutlineSecrets(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": secretsZImagefile})
	dt := subrequest(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, outline.RequestSubrequestsOutline)
	var o outline.Outline
	if err := json.Unmarshal(dt, &o); err != nil {
		t.Fatal(err)
	}
	src := []byte(secretsZImagefile)
	runLine := lineOf(t, src, "  - run: |")
	got := map[string]bool{}
	for _, s := range o.Secrets {
		got[s.Name] = s.Required
		if s.Location == nil || len(s.Location.Ranges) == 0 || int(s.Location.Ranges[0].Start.Line) != runLine {
			t.Errorf("secret %s location %v, want the run step at line %d", s.Name, s.Location, runLine)
		}
	}
	if len(got) != 2 || !got["filesecret"] || !got["token"] {
		t.Errorf("outline secrets %+v, want filesecret and token, both required", o.Secrets)
	}
	if len(o.SSH) != 1 || o.SSH[0].Name != "default" {
		t.Errorf("outline ssh %+v, want default", o.SSH)
	}
}
