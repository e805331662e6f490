# Sourced by the check scripts: sets $lorakit to the binary they run — $LORAKIT when given, else the release build,
# brought up to date first (.ci/run passes $LORAKIT: after `swift test -c release` this would recompile everything
# without -enable-testing). Run from the package root.
lorakit=${LORAKIT:-}
if [ -z "$lorakit" ]; then
    swift build -c release --product lorakit >&2
    lorakit="$(swift build -c release --show-bin-path)/lorakit"
fi
