#!/bin/sh
# hosts-netns.sh - tests/hosts.bats in a network namespace of its own (unshare
# --net): its bridge, veth pairs, host namespaces and 198.18.0.0/15
# addresses exist only there and vanish with it, whatever happens to the
# test. Without root, or where no namespace can be made, hosts.bats skips
# and says why.
dir=$(dirname "$0")
if [ "$(id -u)" != 0 ]; then
	CP_NETNS_SKIP="needs root (network namespaces, veth pairs, a bridge)"
elif ! command -v unshare >/dev/null || ! unshare --net true 2>/dev/null; then
	CP_NETNS_SKIP="cannot make a network namespace (unshare --net)"
else
	export CP_NETNS_OWN=1
	exec unshare --net -- ${BATS:-bats} --tap "$dir/hosts.bats"
fi
export CP_NETNS_SKIP
exec ${BATS:-bats} --tap "$dir/hosts.bats"
