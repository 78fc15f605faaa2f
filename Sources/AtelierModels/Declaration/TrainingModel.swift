import AtelierDevices
import AtelierGraph
/// What a model declares so that one generic `Trainer` trains it: its
/// networks, its parameter groups (each with an optimizer and a schedule),
/// and, on a `StepBuilder`, the inputs and phases of one iteration. gan,
/// dcgan and cdcgan are such declarations; pix2pix and CycleGAN are others.
public protocol TrainingModel: AnyObject {
    /// The networks by name; checkpoints name parameters
    /// "<network>.<parameter path>".
    var networks: [Network] { get }
    /// The groups, each updated by one fused Adam launch after the phases
    /// that name it.
    var parameterGroups: [ParameterGroupSpec] { get }
    /// Declares the inputs and phases of one iteration (once per batch size).
    func buildStep(_ step: StepBuilder) throws
    /// State beyond the parameters that checkpoints must carry for an exact
    /// resume (an image pool), by name.
    func extraState() -> [String: [Float]]
    func restoreExtraState(_ state: [String: [Float]]) throws
}

extension TrainingModel {
    /// None, unless the model keeps some.
    public func extraState() -> [String: [Float]] { [:] }
    /// Refuses state the model does not keep.
    public func restoreExtraState(_ state: [String: [Float]]) throws {
        if let name = state.keys.sorted().first {
            throw CheckpointError("the checkpoint holds state \(name) that this model does not keep: it was written for another model")
        }
    }

    /// Every parameter, named "<network>.<path>".
    public var namedParameters: [(name: String, parameter: Parameter)] {
        networks.flatMap { $0.module.namedParameters(prefix: $0.name) }
    }

    package func network(_ name: String) throws -> Module {
        guard let n = networks.first(where: { $0.name == name }) else {
            throw ShapeError("the model has no network \(name); it has \(networks.map(\.name).joined(separator: ", "))")
        }
        return n.module
    }
}

/// A named network of a model.
public struct Network {
    /// The network's name, the first part of its parameters' names.
    public let name: String
    /// Its layers.
    public let module: Module
    /// `module` under `name`.
    public init(_ name: String, _ module: Module) {
        self.name = name
        self.module = module
    }
}

/// The parameters of some networks, trained together by one optimizer.
public struct ParameterGroupSpec: Codable, Sendable, Equatable {
    /// The group's name (the phase that updates it names it).
    public var name: String
    /// The networks whose parameters it holds.
    public var networks: [String]
    /// Its Adam settings.
    public var optimizer: OptimizerSettings
    /// How its learning rate changes over the epochs.
    public var schedule: LearningRateSchedule

    /// A group of `networks`, trained by one Adam.
    public init(name: String, networks: [String], optimizer: OptimizerSettings = OptimizerSettings(),
                schedule: LearningRateSchedule = .constant) {
        self.name = name
        self.networks = networks
        self.optimizer = optimizer
        self.schedule = schedule
    }
}
