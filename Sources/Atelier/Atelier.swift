// The library as one import: its layers, bottom to top. Each is a target of
// its own, so the compiler refuses a dependency that points up:
//   AtelierDevices   backends (CPU path, OpenCL, reference), kernels, primitives
//   AtelierGraph     tensors, ops and their gradients, autodiff, planning
//   AtelierModels    modules, models and their training declarations, data, files
//   AtelierTraining  the trainer, checkpoints, training runs
@_exported import AtelierDevices
@_exported import AtelierGraph
@_exported import AtelierModels
@_exported import AtelierTraining

/// Atelier's release, as `atelier --version` prints it.
public enum AtelierVersion {
    /// The version number.
    public static let release = "0.9.0"
}
