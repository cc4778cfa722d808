import os
import io
import boto3
import json
import csv

ENDPOINT_NAME = os.environ['ENDPOINT_NAME']
runtime = boto3.client('runtime.sagemaker')

def lambda_handler(event, context):
    try:
        data = event.get("data")
        if not data or len(data) != 12:
            raise ValueError("Input must contain exactly 12 numerical features.")
        payload = ",".join(map(str, data))
        response = runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME,
                                           ContentType='text/csv',
                                           Body=payload)
        result = json.loads(response['Body'].read().decode())
        pred = int(result > 0.5)
        predicted_label = 'Will Exit' if pred == 1 else 'Will Not Exit'
        return {"result": predicted_label}
    except Exception as e:
        return {"error": str(e)}
