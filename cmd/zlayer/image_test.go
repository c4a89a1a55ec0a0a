package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

func TestImageLoadValidate(t *testing.T) {
	for name, c := range map[string]struct {
		cmd  ImageLoadCmd
		want string // "" valid
	}{
		"docker images":     {ImageLoadCmd{Images: []string{"app:1"}}, ""},
		"archive":           {ImageLoadCmd{Input: "app.tar", Name: "app:1"}, ""},
		"stdin":             {ImageLoadCmd{Input: "-"}, ""},
		"nothing":           {ImageLoadCmd{}, "name images"},
		"both":              {ImageLoadCmd{Images: []string{"app:1"}, Input: "app.tar"}, "not both"},
		"name, not archive": {ImageLoadCmd{Images: []string{"app:1"}, Name: "x"}, "--name names an image of an archive"},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.cmd.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate: %v, want %q", err, c.want)
			}
		})
	}
}

// The node names images normalized; a short name asked for is found so.
func TestHasNameNormalizes(t *testing.T) {
	imgs := []apitypes.ImageInfo{{Name: "docker.io/library/app:1"}, {Name: "reg.test:5000/team/x:2"}}
	for name, want := range map[string]bool{
		"app:1": true, "docker.io/library/app:1": true, "app": false, "app:2": false,
		"reg.test:5000/team/x:2": true, "team/x:2": false, "UPPER": false,
	} {
		if got := hasName(imgs, name); got != want {
			t.Errorf("hasName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1 kB", 4_261_000: "4.26 MB", 1_500_000_000: "1.5 GB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShortDigest(t *testing.T) {
	for d, want := range map[string]string{"sha256:0123456789abcdef": "0123456789ab", "sha256:abc": "sha256:abc", "": ""} {
		if got := shortDigest(d); got != want {
			t.Errorf("shortDigest(%q) = %q, want %q", d, got, want)
		}
	}
}

// build --node is the build's output and needs a name for the node.
func TestBuildNodeOptions(t *testing.T) {
	for name, c := range map[string]struct {
		cmd  BuildCmd
		want string
	}{
		"tagged":  {BuildCmd{Tags: []string{"app:1", "app:latest"}, Node: true}, ""},
		"no tag":  {BuildCmd{Node: true}, "needs an image name"},
		"push":    {BuildCmd{Tags: []string{"app:1"}, Push: true, Node: true}, "without --push"},
		"load":    {BuildCmd{Tags: []string{"app:1"}, Load: true, Node: true}, "without --push, --load"},
		"outputs": {BuildCmd{Tags: []string{"app:1"}, Output: []string{"type=local,dest=x"}, Node: true}, "and -o"},
	} {
		t.Run(name, func(t *testing.T) {
			o, err := c.cmd.nodeOptions()
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err %v, want %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Outputs) != 1 || o.Outputs[0] != nodeOutput || strings.Join(o.Tags, ",") != "app:1,app:latest" {
				t.Fatalf("options %+v", o)
			}
		})
	}
}

// The image commands and their flags reach the completion words, and each
// has an example in its help.
func TestImageCommandsCompleteAndShowExamples(t *testing.T) {
	parser, err := kong.New(&fullCLI{}, kong.Name("zlayer"))
	if err != nil {
		t.Fatal(err)
	}
	tree := map[string][]string{}
	collectWords(parser.Model.Node, "", tree)
	for path, want := range map[string][]string{
		"image":       {"load", "ls", "prune", "rm"},
		"image load":  {"--input", "--name", "--docker"},
		"image ls":    {"--output"},
		"image rm":    {"--force"},
		"image prune": {"--output"},
		"build":       {"--node", "--host"},
	} {
		words := strings.Join(tree[path], " ")
		for _, w := range want {
			if !strings.Contains(" "+words+" ", " "+w+" ") {
				t.Errorf("completion of %q lacks %s: %s", path, w, words)
			}
		}
	}
	for name, h := range map[string]interface{ Help() string }{
		"load": &ImageLoadCmd{}, "ls": &ImageLsCmd{}, "rm": &ImageRmCmd{}, "prune": &ImagePruneCmd{}, "build": &BuildCmd{},
	} {
		if !strings.Contains(h.Help(), "Examples:\n  zlayer ") {
			t.Errorf("%s --help has no example:\n%s", name, h.Help())
		}
	}
}
