import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// `atelier transfer`: an image-to-image checkpoint's generator (pix2pix's,
/// or either of CycleGAN's) applied to pictures of any size, one at a time
/// (pix2pix normalises each picture by its own statistics), read and
/// written around it in batches.
public final class Transfer {
    /// The checkpoint's model.
    public let config: ModelConfig
    /// How pictures of other sizes are fitted to the model and back.
    public let fit: PictureFit
    let translator: Translator

    /// Loads the generator of `checkpoint` for translating in `direction`
    /// (nil: the one it was trained in).
    public init(checkpoint: String, direction: TranslationSettings.Direction?, fit: PictureFit, backend: Backend) throws {
        let (state, tensors) = try Checkpoint.read(checkpoint)
        let config = state.model
        guard let settings = config.translation, config.kind.isTranslation else {
            throw CheckpointError("\(checkpoint) holds a \(config.kind) model, which generates pictures from noise rather than translating them: use `atelier sample --checkpoint \(checkpoint)`")
        }
        var rng = RandomGenerator(seed: 0)
        let model: TrainingModel
        if config.kind == .pix2pix {
            if let direction, direction != settings.direction {
                throw CheckpointError("\(checkpoint) is a pix2pix model trained \(settings.direction); it translates in that direction only (omit --direction, or train a model \(direction))")
            }
            let pix2pix = try Pix2PixModel(config: config, rng: &rng)
            (model, translator) = (pix2pix, Translator(pix2pix, backend: backend))
            self.direction = settings.direction
        } else {
            // CycleGAN translates both ways: G_A maps A to B, G_B maps B to A.
            let cyclegan = try CycleGANModel(config: config, rng: &rng)
            let forward = (direction ?? .AtoB) == .AtoB
            translator = forward
                ? Translator(generator: cyclegan.generatorA, inputShape: config.inputShape, outputShape: config.imageShape, backend: backend)
                : Translator(generator: cyclegan.generatorB, inputShape: config.imageShape, outputShape: config.inputShape, backend: backend)
            model = cyclegan
            self.direction = forward ? .AtoB : .BtoA
        }
        for (_, p) in model.namedParameters { try p.place(on: backend) }
        try Checkpoint.restoreWeights(model, on: backend, from: tensors, path: checkpoint)
        self.config = config
        self.fit = fit
    }

    /// The direction it translates in.
    public let direction: TranslationSettings.Direction

    /// Which half of a side-by-side pair is the input.
    public var inputIsRightHalf: Bool { direction == .BtoA }

    /// The outputs of `pictures`, each at its own size.
    public func translate(_ pictures: [PixelImage]) throws -> [PixelImage] {
        let side = config.imageSize, per = translator.inputShape.reduce(1, *)
        var inputs = [Float]()
        inputs.reserveCapacity(pictures.count * per)
        var placements: [PictureFit.Placement] = []
        for p in pictures {
            let (values, placement) = fit.input(p, side: side, channels: translator.inputShape[0])
            inputs += values
            placements.append(placement)
        }
        let outputs = try translator.translate(inputs)
        let outPer = translator.outputShape.reduce(1, *)
        return placements.enumerated().map { n, placement in
            PictureFit.output(outputs[n * outPer..<(n + 1) * outPer], channels: translator.outputShape[0], side: side, placement: placement)
        }
    }
}
