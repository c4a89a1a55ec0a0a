package imagebuild

import (
	"context"
	"errors"
	"os/exec"

	"github.com/zlayer/zlayer/pipeline/buildx"
)

// BuildFailedError is a build that ran and failed; buildx already printed why.
type BuildFailedError struct{ Code int }

func (e *BuildFailedError) Error() string { return "build failed" }

func buildWithBuildx(ctx context.Context, o Options, p *Plan) error {
	cli, err := buildx.Find(o.Builder, o.Env)
	if err != nil {
		return err
	}
	if _, err := cli.Check(ctx); err != nil {
		return err
	}
	args := []string{"--file", p.File.Path}
	for _, t := range o.Tags {
		args = append(args, "--tag", t)
	}
	for _, k := range p.argOrder {
		args = append(args, "--build-arg", k+"="+p.Args[k])
	}
	if o.Target != "" {
		args = append(args, "--target", o.Target)
	}
	for _, pl := range o.Platforms {
		args = append(args, "--platform", pl)
	}
	if o.NoCache {
		args = append(args, "--no-cache")
	}
	if o.Push {
		args = append(args, "--push")
	}
	if o.Load {
		args = append(args, "--load")
	}
	for _, sec := range p.Secrets {
		args = append(args, "--secret", sec.Spec())
	}
	for _, a := range p.SSH {
		args = append(args, "--ssh", a.Spec())
	}
	for _, out := range o.Outputs {
		args = append(args, "--output", out)
	}
	if o.Progress != "" {
		args = append(args, "--progress", o.Progress)
	}
	args = append(args, p.Context)
	cmd := cli.Command(ctx, "build", args...)
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &BuildFailedError{Code: ee.ExitCode()}
		}
		return err
	}
	return nil
}
