// Package stack starts the real components ZLayer is tested against, each in
// its own short temp folder, and stops them by PID afterwards.
//
// A test asks for what it needs:
//
//	s := stack.Start(t, stack.Options{Buildkit: true, Containerd: true})
//
// Start skips the test, with the reason, when it cannot run here (not root,
// a tool missing), unless ZLAYER_INTEGRATION=require, when it fails instead.
// The registry always runs and is seeded with library/busybox:latest built
// from Debian's busybox-static; buildkitd and containerd use it as their
// docker.io mirror, so "busybox" resolves unchanged. Cleanup (registered with
// t.Cleanup) stops every daemon by PID, removes the containers and tasks it
// left, unmounts what lies under the stack folder, removes the cgroup folders
// the daemons created, and prints the daemons' logs when the test failed.
//
// The zlstack command (integration/cmd/zlstack) exposes the same stack to
// scripts such as `make demo`.
package stack
