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
    public func extraState() -> [String: [Float]] { [:] }
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
    public let name: String
    public let module: Module
    public init(_ name: String, _ module: Module) {
        self.name = name
        self.module = module
    }
}

/// The parameters of some networks, trained together by one optimizer.
public struct ParameterGroupSpec: Codable, Sendable, Equatable {
    public var name: String
    public var networks: [String]
    public var optimizer: OptimizerSettings
    public var schedule: LearningRateSchedule

    public init(name: String, networks: [String], optimizer: OptimizerSettings = OptimizerSettings(),
                schedule: LearningRateSchedule = .constant) {
        self.name = name
        self.networks = networks
        self.optimizer = optimizer
        self.schedule = schedule
    }
}
