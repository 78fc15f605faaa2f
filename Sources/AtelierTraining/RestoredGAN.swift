import AtelierDevices
import AtelierGraph
import AtelierModels

extension GANModel {
    /// A GAN built for `config` with its parameters on `backend`, holding
    /// their initial values until weights are written into them.
    public static func placed(_ config: ModelConfig, on backend: Backend) throws -> GANModel {
        var rng = RandomGenerator(seed: 0)
        let model = try GANModel(config: config, rng: &rng)
        for (_, p) in model.namedParameters { try p.place(on: backend) }
        return model
    }

    /// The GAN of the checkpoint at `path`, with its weights on `backend`, and the checkpoint's state.
    public static func restored(from path: String, on backend: Backend) throws -> (model: GANModel, state: TrainingState) {
        let (state, tensors) = try Checkpoint.read(path)
        guard !state.model.kind.isTranslation else {
            throw CheckpointError("\(path) holds a \(state.model.kind) model, which translates pictures; gan, dcgan and cdcgan draw them from noise (`atelier transfer` runs it, `atelier eval --real DIR` scores a folder of its outputs)")
        }
        let model = try placed(state.model, on: backend)
        try Checkpoint.restoreWeights(model, on: backend, from: tensors, path: path)
        return (model, state)
    }
}
