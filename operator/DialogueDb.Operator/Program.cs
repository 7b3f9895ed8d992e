using DialogueDb.Operator.Hosting;

return await OperatorCli.RunAsync(args);
