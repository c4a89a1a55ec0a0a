package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/zlayer/zlayer/internal/imagearchive"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/registry"
)

// ImageCmd groups image commands.
type ImageCmd struct {
	Load   ImageLoadCmd   `cmd:"" help:"Send images to the node: from the local Docker engine, or an archive with -i."`
	Ls     ImageLsCmd     `cmd:"" help:"List the node's images and the services that use them."`
	Rm     ImageRmCmd     `cmd:"" help:"Remove images from the node."`
	Prune  ImagePruneCmd  `cmd:"" help:"Remove every image no service uses."`
	Import ImageImportCmd `cmd:"" hidden:"" help:"Upload a docker or OCI image tar to the node (image load -i FILE)."`
}

// ImageLoadCmd sends images to the node without a registry.
type ImageLoadCmd struct {
	NodeFlags
	Images []string `arg:"" optional:"" help:"Images of the local Docker engine (as docker save takes them)."`
	Input  string   `short:"i" name:"input" help:"Archive instead: a docker-save tar, an OCI archive tar, an OCI layout folder, or - for stdin."`
	Name   string   `help:"Name for an image the archive leaves unnamed (with -i)."`
	Docker string   `env:"ZLAYER_DOCKER" default:"docker" help:"docker CLI to save images with (DOCKER_HOST and its other settings apply)."`
}

func (c *ImageLoadCmd) Help() string {
	return `Images the node already has, with the same digest under the same name, are
not sent again. From Docker, the images are streamed from docker save to the
node as they are read (like kind load docker-image).

Examples:
  zlayer image load app:1 worker:1
  zlayer image load -i app.tar
  docker save app:1 | zlayer image load -i -
  zlayer image load -i ./oci-layout-folder --name app:1`
}

func (c *ImageLoadCmd) Validate() error {
	switch {
	case c.Input == "" && len(c.Images) == 0:
		return errors.New("name images of the local Docker engine, or an archive with -i FILE")
	case c.Input != "" && len(c.Images) > 0:
		return errors.New("give images of the local Docker engine or -i FILE, not both")
	case c.Name != "" && c.Input == "":
		return errors.New("--name names an image of an archive (-i); Docker's images have their names")
	}
	return nil
}

func (c *ImageLoadCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if c.Input != "" {
		return loadArchive(ctx, cl, c.Input, c.Name, os.Stdin, os.Stdout)
	}
	return loadFromDocker(ctx, cl, c.Docker, c.Images, os.Stdout)
}

// present reports whether the node has every ref by name and digest; a ref
// without a name is never taken for present, as the node names it only
// when it imports it.
func present(ctx context.Context, cl *apiclient.Client, refs []imagearchive.Ref) (bool, error) {
	if len(refs) == 0 {
		return false, nil
	}
	for _, r := range refs {
		if r.Name == "" {
			return false, nil
		}
		have, err := cl.ImagesByDigest(ctx, r.Digest)
		if err != nil {
			return false, fmt.Errorf("asking the node for %s: %w", r.Digest, err)
		}
		if !hasName(have, r.Name) {
			return false, nil
		}
	}
	return true, nil
}

// hasName reports whether one of imgs is named name, normalized as the
// node normalizes it (app:1 is docker.io/library/app:1).
func hasName(imgs []apitypes.ImageInfo, name string) bool {
	n, err := registry.Normalize(name)
	if err != nil {
		return false
	}
	for _, i := range imgs {
		if i.Name == n {
			return true
		}
	}
	return false
}

func loadArchive(ctx context.Context, cl *apiclient.Client, input, name string, stdin io.Reader, out io.Writer) error {
	var body io.Reader
	var refs []imagearchive.Ref
	switch st, err := os.Stat(input); {
	case input == "-":
		// A pipe is read once: what it holds is known only to the node.
		body = stdin
	case err != nil:
		return err
	case st.IsDir():
		if refs, err = imagearchive.LayoutRefs(input); err != nil {
			return err
		}
		rc := imagearchive.TarLayout(input)
		defer rc.Close()
		body = rc
	default:
		f, err := os.Open(input)
		if err != nil {
			return err
		}
		defer f.Close()
		// The file is read twice: its index first (skipping the blobs),
		// then whole if the node lacks anything of it.
		if refs, err = imagearchive.TarRefs(f); err != nil {
			return fmt.Errorf("%s: %w", input, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		body = f
	}
	if name != "" {
		for i := range refs {
			if refs[i].Name == "" {
				refs[i].Name = name
			}
		}
	}
	ok, err := present(ctx, cl, refs)
	if err != nil {
		return err
	}
	if ok {
		for _, r := range refs {
			fmt.Fprintf(out, "%s: already on the node (%s), not sent\n", r.Name, r.Digest)
		}
		return nil
	}
	imgs, err := cl.Import(ctx, body, name)
	if err != nil {
		return fmt.Errorf("load %s: %w", input, err)
	}
	printLoaded(out, imgs)
	return nil
}

func printLoaded(out io.Writer, imgs []apitypes.ImportedImage) {
	for _, i := range imgs {
		fmt.Fprintf(out, "loaded %s (%s)\n", i.Name, i.Digest)
	}
}

// dockerImage is an image of the local Docker engine: the name asked for
// and its ID, the digest the node knows a docker-save image by.
type dockerImage struct {
	Name string
	ID   string
}

func dockerInspect(ctx context.Context, docker string, names []string) ([]dockerImage, error) {
	args := append([]string{"image", "inspect", "--format", "{{.Id}}"}, names...)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, docker, args...)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("docker image inspect: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	ids := strings.Fields(string(b))
	if len(ids) != len(names) {
		return nil, fmt.Errorf("docker image inspect answered %d IDs for %d images", len(ids), len(names))
	}
	out := make([]dockerImage, len(names))
	for i, n := range names {
		out[i] = dockerImage{Name: n, ID: ids[i]}
	}
	return out, nil
}

// toSend are the images the node lacks, by name and Docker's ID.
func toSend(ctx context.Context, cl *apiclient.Client, imgs []dockerImage, out io.Writer) ([]string, error) {
	var send []string
	for _, img := range imgs {
		ok, err := present(ctx, cl, []imagearchive.Ref{{Name: img.Name, Digest: img.ID}})
		if err != nil {
			return nil, err
		}
		if ok {
			fmt.Fprintf(out, "%s: already on the node (%s), not sent\n", img.Name, img.ID)
			continue
		}
		send = append(send, img.Name)
	}
	return send, nil
}

func loadFromDocker(ctx context.Context, cl *apiclient.Client, docker string, names []string, out io.Writer) error {
	imgs, err := dockerInspect(ctx, docker, names)
	if err != nil {
		return err
	}
	send, err := toSend(ctx, cl, imgs, out)
	if err != nil || len(send) == 0 {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, docker, append([]string{"save"}, send...)...)
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	loaded, ierr := cl.Import(ctx, pipe, "")
	if ierr != nil {
		// The node stopped reading: docker save has nowhere to write.
		cancel()
	}
	if werr := cmd.Wait(); werr != nil && ctx.Err() == nil {
		// docker's own reason says more than the node's broken archive.
		return fmt.Errorf("docker save %s: %w: %s", strings.Join(send, " "), werr, strings.TrimSpace(stderr.String()))
	}
	if ierr != nil {
		return fmt.Errorf("load %s: %w", strings.Join(send, " "), ierr)
	}
	printLoaded(out, loaded)
	return nil
}

// ImageLsCmd lists the node's images.
type ImageLsCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *ImageLsCmd) Help() string {
	return `USED BY names the DEPLOYMENT/SERVICE pairs whose spec names the image or whose
replicas run it; image rm refuses those images and image prune keeps them.
The read-only token is enough.

Examples:
  zlayer image ls
  zlayer image ls -o json | jq -r '.[] | select(.used_by == []) | .name'`
}

func (c *ImageLsCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.Images(ctx)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSONList(os.Stdout, list)
	}
	return printImages(os.Stdout, list)
}

func printImages(w io.Writer, list []apitypes.ImageInfo) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tUSED BY")
	for _, i := range list {
		used := "-"
		if len(i.UsedBy) > 0 {
			used = strings.Join(i.UsedBy, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, shortDigest(i.Digest), humanSize(i.Size), used)
	}
	return tw.Flush()
}

// shortDigest is the digest's first 12 hex digits, as docker shows IDs.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) < 12 {
		return d
	}
	return hex[:12]
}

// humanSize is n in decimal units, as docker prints image sizes.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	u := 0
	for f >= 1000 && u < len(units)-1 {
		f /= 1000
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s", f, units[u])
}

// ImageRmCmd removes images.
type ImageRmCmd struct {
	NodeFlags
	Names []string `arg:"" help:"Images to remove (names as in a spec: app:1 is docker.io/library/app:1)."`
	Force bool     `short:"f" help:"Remove images services use: running replicas go on, but a new replica needs the image again (pulled as its pull_policy says)."`
}

func (c *ImageRmCmd) Help() string {
	return `An image a service uses (see USED BY in image ls) is refused unless --force.
Content another image shares stays; what the removal freed is printed.

Examples:
  zlayer image rm app:1
  zlayer image rm --force registry.example.com/team/app:2`
}

func (c *ImageRmCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var failed []string
	for _, n := range c.Names {
		rm, err := cl.RemoveImage(ctx, n, c.Force)
		if err != nil {
			// One refusal does not keep the others.
			fmt.Fprintf(os.Stderr, "%s: %v\n", n, err)
			failed = append(failed, n)
			continue
		}
		fmt.Printf("removed %s (%s), freed %s\n", rm.Name, rm.Digest, humanSize(rm.Freed))
	}
	if len(failed) > 0 {
		return exitError{code: 1, err: fmt.Errorf("not removed: %s", strings.Join(failed, ", "))}
	}
	return nil
}

// ImagePruneCmd removes the images no service uses.
type ImagePruneCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *ImagePruneCmd) Help() string {
	return `Removes every image that no deployment's spec names and no replica runs, and
prints each with the bytes its removal freed.

Examples:
  zlayer image prune
  zlayer image prune -o json`
}

func (c *ImagePruneCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	res, err := cl.PruneImages(ctx)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	for _, rm := range res.Removed {
		fmt.Printf("removed %s (%s), freed %s\n", rm.Name, rm.Digest, humanSize(rm.Freed))
	}
	fmt.Printf("%d images removed, %s freed\n", len(res.Removed), humanSize(res.Freed))
	return nil
}

// ImageImportCmd uploads an image tar so builds reach a node without a
// registry; image load -i is the same and more.
type ImageImportCmd struct {
	NodeFlags
	File string `arg:"" help:"Image tar (docker save or OCI layout)." type:"existingfile"`
	Name string `help:"Name for an image the archive leaves unnamed."`
}

func (c *ImageImportCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	imgs, err := cl.Import(ctx, f, c.Name)
	if err != nil {
		return err
	}
	for _, i := range imgs {
		fmt.Printf("imported %s (%s)\n", i.Name, i.Digest)
	}
	return nil
}
