import AtelierDevices

/// The loops the defined ops' CPU versions run their work in, split over
/// the cores (the CPU path and the reference backend alike).
enum HostLoops {
    /// `body(i)` for 0..<count.
    static func forEachElement(_ count: Int, _ body: (Int) -> Void) {
        Parallel.forEachSlice(count) { range in for i in range { body(i) } }
    }

    /// `body(plane)` for every plane of `perPlane` values.
    static func forEachPlane(_ planes: Int, _ perPlane: Int, _ body: (Int) -> Void) {
        Parallel.forEachSlice(planes, minimumSlice: max(1, (1 << 14) / max(1, perPlane))) { range in
            for plane in range { body(plane) }
        }
    }

    /// `body(range)` over contiguous ranges of the planes, for C loops that take one.
    static func forEachPlane(_ planes: Int, _ perPlane: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forEachSlice(planes, minimumSlice: max(1, (1 << 14) / max(1, perPlane)), body)
    }
}
