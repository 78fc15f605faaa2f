/// Device-side timing of launches (OpenCL event profiling): what profiles
/// use where a backend has it, instead of waiting for every op.
public protocol LaunchTimer: AnyObject {
    /// Starts recording launches, forgetting any recorded before.
    func startRecording() throws
    /// The device time of each launch since the last call, per kernel
    /// (waits for them).
    func takeLaunchTimes() throws -> [(kernel: String, nanoseconds: UInt64)]
    /// Stops recording (nobody will read them).
    func stopRecording()
    /// How the times are taken, for reports.
    var timingDescription: String { get }
}

extension Backend {
    /// The device-side launch timer, nil where ops are timed by the host.
    public var launchTimer: LaunchTimer? { nil }
    /// Called with a kernel file's name before it is compiled for the first
    /// time (a slow step on a new device); backends that compile nothing
    /// never call it.
    public func onCompile(_ handler: @escaping @Sendable (String) -> Void) {}
    /// The device's FMA peak and copy bandwidth, measured on the spot.
    public func measurePeak(repeats: Int) throws -> DevicePeak { PeakProbe.measureCPU(repeats: repeats) }
}
